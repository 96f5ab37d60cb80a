/*
 * test_recovery.c -- RFC 9002 arithmetic: the RTT estimator on the §5.3
 * formulas worked by hand, PTO and loss delay, NewReno behaviour over
 * simulated rounds (slow start doubling, one halving per recovery period,
 * congestion avoidance, persistent congestion, caps), and the pacer's
 * burst and rate.
 */
#include "test.h"
#include "core/recovery.h"

TEST(rtt_initial)
{
    weft__rtt r;
    weft__rtt_init(&r, 0);
    CHECK(r.smoothed_us == WEFT__INITIAL_RTT_US && r.var_us == WEFT__INITIAL_RTT_US / 2);
    CHECK(!r.has_sample);
    /* PTO before any sample: 333 + 4 * 166.5 + max_ack_delay ms */
    CHECK(weft__rtt_pto_us(&r, 25000) == 333000 + 4 * 166500 + 25000);
    weft__rtt_init(&r, 50000);
    CHECK(r.smoothed_us == 50000 && r.var_us == 25000);
}

TEST(rtt_first_and_later_samples)
{
    weft__rtt r;
    weft__rtt_init(&r, 0);
    /* §5.3: first sample: smoothed = sample, rttvar = sample / 2, ack
     * delay ignored. */
    weft__rtt_update(&r, 100000, 5000, 25000);
    CHECK(r.has_sample);
    CHECK(r.latest_us == 100000 && r.min_us == 100000);
    CHECK(r.smoothed_us == 100000 && r.var_us == 50000);
    /* Later: adjusted = 120000 - 10000 = 110000 (stays >= min_rtt);
     * rttvar = 3/4 * 50000 + 1/4 * |100000 - 110000| = 40000;
     * smoothed = 7/8 * 100000 + 1/8 * 110000 = 101250. */
    weft__rtt_update(&r, 120000, 10000, 25000);
    CHECK(r.latest_us == 120000 && r.min_us == 100000);
    CHECK_EQ_INT(r.var_us, 40000);
    CHECK_EQ_INT(r.smoothed_us, 101250);
    /* ack delay capped at max_ack_delay: 150000 - 25000 = 125000;
     * rttvar = (3 * 40000 + 23750) / 4 = 35937 (integer);
     * smoothed = (7 * 101250 + 125000) / 8 = 104218 (integer). */
    weft__rtt_update(&r, 150000, 50000, 25000);
    CHECK_EQ_INT(r.var_us, 35937);
    CHECK_EQ_INT(r.smoothed_us, 104218);
    /* ack delay that would push below min_rtt is not subtracted:
     * 105000 - 10000 < 100000, so adjusted = 105000. */
    weft__rtt r2 = r;
    weft__rtt_update(&r2, 105000, 10000, 25000);
    CHECK_EQ_INT(r2.smoothed_us, (7 * 104218 + 105000) / 8);
    /* min_rtt follows the raw sample */
    weft__rtt_update(&r, 80000, 70000, 100000);
    CHECK_EQ_INT(r.min_us, 80000);
    CHECK_EQ_INT(r.latest_us, 80000);
}

TEST(rtt_converges)
{
    weft__rtt r;
    weft__rtt_init(&r, 0);
    for (int i = 0; i < 200; i++)
        weft__rtt_update(&r, 20000, 0, 25000);
    CHECK(r.smoothed_us == 20000);
    CHECK(r.var_us < 100);
    /* PTO with a tiny variance uses kGranularity */
    CHECK(weft__rtt_pto_us(&r, 0) == 20000 + WEFT__GRANULARITY_US);
}

TEST(pto_and_loss_delay)
{
    weft__rtt r;
    weft__rtt_init(&r, 0);
    weft__rtt_update(&r, 80000, 0, 0); /* srtt 80000, var 40000 */
    CHECK(weft__rtt_pto_us(&r, 25000) == 80000 + 160000 + 25000);
    CHECK(weft__rtt_loss_delay_us(&r) == 90000); /* 9/8 * 80000 */
    weft__rtt_update(&r, 160000, 0, 0);          /* latest > smoothed */
    CHECK(weft__rtt_loss_delay_us(&r) == 180000); /* 9/8 * 160000 */
    weft__rtt_init(&r, 0);
    weft__rtt_update(&r, 100, 0, 0);
    CHECK(weft__rtt_loss_delay_us(&r) == WEFT__GRANULARITY_US);
}

/* Sends a full window at `t` and acks it all; returns bytes acked. */
static uint64_t round_trip(weft__cc *cc, uint64_t t)
{
    uint64_t sent = 0;
    while (weft__cc_can_send(cc, cc->mss) && sent < (1u << 30)) {
        weft__cc_on_sent(cc, cc->mss);
        sent += cc->mss;
    }
    for (uint64_t a = 0; a < sent; a += cc->mss)
        weft__cc_on_acked(cc, cc->mss, t);
    return sent;
}

TEST(cc_initial_window)
{
    weft__cc cc;
    weft__cc_init(&cc, 1200, 0);
    CHECK_EQ_INT(cc.cwnd, 12000); /* min(10 * 1200, max(14720, 2400)) */
    CHECK_EQ_INT(cc.cwnd_min, 2400);
    weft__cc_init(&cc, 1500, 0);
    CHECK_EQ_INT(cc.cwnd, 14720); /* min(15000, 14720) */
    CHECK(cc.ssthresh == UINT64_MAX);
}

TEST(cc_slow_start_doubles)
{
    weft__cc cc;
    weft__cc_init(&cc, 1200, 0);
    uint64_t t = 1000;
    for (int i = 0; i < 4; i++) {
        uint64_t before = cc.cwnd;
        CHECK_EQ_INT(round_trip(&cc, t), before);
        CHECK_EQ_INT(cc.cwnd, 2 * before);
        CHECK_EQ_INT(cc.bytes_in_flight, 0);
        t += 100000;
    }
    CHECK_EQ_INT(cc.cwnd, 12000 * 16);
}

TEST(cc_can_send)
{
    weft__cc cc;
    weft__cc_init(&cc, 1200, 0);
    for (int i = 0; i < 10; i++) {
        CHECK(weft__cc_can_send(&cc, 1200));
        weft__cc_on_sent(&cc, 1200);
    }
    CHECK(!weft__cc_can_send(&cc, 1200));
    CHECK(weft__cc_can_send(&cc, 0));
    weft__cc_on_discarded(&cc, 1200); /* no congestion signal */
    CHECK_EQ_INT(cc.cwnd, 12000);
    CHECK(weft__cc_can_send(&cc, 1200));
}

TEST(cc_loss_halves_once_per_recovery_period)
{
    weft__cc cc;
    weft__cc_init(&cc, 1000, 0);
    cc.cwnd = 64000; /* pretend slow start got here */
    for (int i = 0; i < 64; i++)
        weft__cc_on_sent(&cc, 1000);
    /* packets sent at t <= 100; first loss detected at 200 */
    weft__cc_on_lost(&cc, 1000, 100, 200);
    CHECK_EQ_INT(cc.cwnd, 32000);
    CHECK_EQ_INT(cc.ssthresh, 32000);
    CHECK_EQ_INT(cc.recovery_start_us, 200);
    /* more losses from the same flight: no further reduction */
    weft__cc_on_lost(&cc, 1000, 150, 250);
    weft__cc_on_lost(&cc, 1000, 200, 300);
    CHECK_EQ_INT(cc.cwnd, 32000);
    /* acks of packets sent before the period do not grow the window */
    weft__cc_on_acked(&cc, 1000, 180);
    CHECK_EQ_INT(cc.cwnd, 32000);
    CHECK_EQ_INT(cc.bytes_in_flight, 60000);
    /* a loss of a packet sent after recovery began starts a new period */
    weft__cc_on_lost(&cc, 1000, 201, 400);
    CHECK_EQ_INT(cc.cwnd, 16000);
    CHECK_EQ_INT(cc.recovery_start_us, 400);
    /* repeated halving floors at kMinimumWindow */
    for (uint64_t t = 500; t < 5000; t += 100)
        weft__cc_on_lost(&cc, 0, t, t + 1);
    CHECK_EQ_INT(cc.cwnd, 2000);
}

TEST(cc_congestion_avoidance)
{
    weft__cc cc;
    weft__cc_init(&cc, 1000, 0);
    cc.cwnd = 20000;
    weft__cc_on_lost(&cc, 0, 10, 20); /* cwnd = ssthresh = 10000 */
    CHECK_EQ_INT(cc.cwnd, 10000);
    /* Each window's worth of acks (of packets sent after recovery start)
     * grows cwnd by one mss: additive increase. */
    uint64_t t = 1000;
    for (int i = 0; i < 5; i++) {
        uint64_t before = cc.cwnd;
        round_trip(&cc, t);
        CHECK_EQ_INT(cc.cwnd, before + 1000);
        t += 1000;
    }
    CHECK_EQ_INT(cc.cwnd, 15000);
}

TEST(cc_recovery_at_time_zero)
{
    /* Simulated clocks may start at 0: a loss declared at 0 must still
     * open a recovery period (0 means "none"). */
    weft__cc cc;
    weft__cc_init(&cc, 1000, 0);
    weft__cc_on_lost(&cc, 0, 0, 0);
    CHECK_EQ_INT(cc.cwnd, 5000);
    weft__cc_on_lost(&cc, 0, 0, 0);
    CHECK_EQ_INT(cc.cwnd, 5000);
    weft__cc_on_acked(&cc, 1000, 0);
    CHECK_EQ_INT(cc.cwnd, 5000);
}

TEST(cc_persistent_congestion)
{
    weft__cc cc;
    weft__cc_init(&cc, 1200, 0);
    round_trip(&cc, 10);
    round_trip(&cc, 20); /* 48000 */
    weft__cc_on_lost(&cc, 0, 30, 40);
    CHECK_EQ_INT(cc.cwnd, 24000);
    weft__cc_on_persistent_congestion(&cc);
    CHECK_EQ_INT(cc.cwnd, 2400);
    CHECK_EQ_INT(cc.recovery_start_us, 0);
    /* then slow start again (even for packets sent before), up to ssthresh */
    weft__cc_on_acked(&cc, 1200, 35);
    CHECK_EQ_INT(cc.cwnd, 3600);
    for (uint64_t t = 100; cc.cwnd < cc.ssthresh; t++)
        round_trip(&cc, t);
    CHECK(cc.cwnd >= 24000 && cc.cwnd < 48000);
}

TEST(cc_caps_and_mss_change)
{
    weft__cc cc;
    weft__cc_init(&cc, 1200, 50000);
    for (uint64_t t = 1; t < 10; t++)
        round_trip(&cc, t);
    CHECK_EQ_INT(cc.cwnd, 50000);
    weft__cc_init(&cc, 1200, 0);
    weft__cc_set_mss(&cc, 2400); /* window scales with the packet size */
    CHECK_EQ_INT(cc.cwnd, 24000);
    CHECK_EQ_INT(cc.cwnd_min, 4800);
    CHECK_EQ_INT(cc.mss, 2400);
    CHECK(cc.ssthresh == UINT64_MAX);
    weft__cc_on_lost(&cc, 0, 1, 2);
    weft__cc_set_mss(&cc, 1200);
    CHECK_EQ_INT(cc.cwnd, 6000);
    CHECK_EQ_INT(cc.ssthresh, 6000);
}

static void setup_pacer(weft__pacer *p, weft__cc *cc, weft__rtt *r)
{
    weft__cc_init(cc, 1200, 0);  /* cwnd 12000 */
    weft__rtt_init(r, 0);
    weft__rtt_update(r, 100000, 0, 0); /* srtt 100 ms */
    weft__pacer_init(p, 0, 0);   /* burst defaults to 10 packets */
    /* rate = 5/4 * 12000 B / 100000 us = 0.15 B/us: one packet per 8 ms */
}

TEST(pacer_burst_then_rate)
{
    weft__pacer p;
    weft__cc cc;
    weft__rtt r;
    setup_pacer(&p, &cc, &r);
    /* the first burst of 10 packets passes immediately */
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(weft__pacer_next_us(&p, &cc, &r, 1200, 0), 0);
        weft__pacer_on_sent(&p, &cc, &r, 1200, 0);
    }
    /* the 11th must wait one packet interval: 1200 / 0.15 = 8000 us */
    CHECK_EQ_INT(weft__pacer_next_us(&p, &cc, &r, 1200, 0), 8000);
    CHECK_EQ_INT(weft__pacer_next_us(&p, &cc, &r, 1200, 7999), 8000);
    CHECK_EQ_INT(weft__pacer_next_us(&p, &cc, &r, 1200, 8000), 8000);
    weft__pacer_on_sent(&p, &cc, &r, 1200, 8000);
    CHECK_EQ_INT(weft__pacer_next_us(&p, &cc, &r, 1200, 8000), 16000);
}

TEST(pacer_long_run_matches_rate)
{
    weft__pacer p;
    weft__cc cc;
    weft__rtt r;
    setup_pacer(&p, &cc, &r);
    /* Send whenever allowed for one second: burst + 1 s * 0.15 B/us. */
    uint64_t now = 0, sent = 0;
    for (int guard = 0; guard < 100000; guard++) {
        uint64_t at = weft__pacer_next_us(&p, &cc, &r, 1200, now);
        if (at > 1000000)
            break;
        CHECK(at >= now);
        now = at;
        weft__pacer_on_sent(&p, &cc, &r, 1200, now);
        sent++;
    }
    CHECK_EQ_INT(sent, 10 + 1000000 / 8000);
}

TEST(pacer_fractions_accumulate)
{
    /* Polling every microsecond must not lose the sub-byte credit of each
     * step: the packet still leaves after exactly one interval. */
    weft__pacer p;
    weft__cc cc;
    weft__rtt r;
    setup_pacer(&p, &cc, &r);
    weft__pacer_on_sent(&p, &cc, &r, 12000, 0); /* empty the bucket */
    uint64_t t = 1;
    while (t < 20000 && weft__pacer_next_us(&p, &cc, &r, 1200, t) != t)
        t++;
    CHECK_EQ_INT(t, 8000);
}

TEST(pacer_idle_refills_only_a_burst)
{
    weft__pacer p;
    weft__cc cc;
    weft__rtt r;
    setup_pacer(&p, &cc, &r);
    weft__pacer_on_sent(&p, &cc, &r, 12000, 0);
    uint64_t now = 10000000; /* 10 s idle */
    int passed = 0;
    while (passed < 100 && weft__pacer_next_us(&p, &cc, &r, 1200, now) == now) {
        weft__pacer_on_sent(&p, &cc, &r, 1200, now);
        passed++;
    }
    CHECK_EQ_INT(passed, 10);
    /* a packet larger than the bucket waits for a full bucket only */
    uint64_t at = weft__pacer_next_us(&p, &cc, &r, 1000000, now);
    CHECK_EQ_INT(at, now + 80000);
}

int main(void)
{
    RUN(rtt_initial);
    RUN(rtt_first_and_later_samples);
    RUN(rtt_converges);
    RUN(pto_and_loss_delay);
    RUN(cc_initial_window);
    RUN(cc_slow_start_doubles);
    RUN(cc_can_send);
    RUN(cc_loss_halves_once_per_recovery_period);
    RUN(cc_congestion_avoidance);
    RUN(cc_recovery_at_time_zero);
    RUN(cc_persistent_congestion);
    RUN(cc_caps_and_mss_change);
    RUN(pacer_burst_then_rate);
    RUN(pacer_long_run_matches_rate);
    RUN(pacer_fractions_accumulate);
    RUN(pacer_idle_refills_only_a_burst);
    TEST_MAIN_END();
}
