/*
 * recovery.c -- the arithmetic of QUIC loss recovery and congestion
 * control (RFC 9002), on microsecond timestamps supplied by the caller:
 *
 *   - RTT estimation (§5): latest, min, smoothed and variance, with the
 *     peer's ack delay subtracted when that keeps the sample >= min_rtt;
 *   - the probe timeout (§6.2.1) and the time threshold for loss (§6.1.2);
 *   - NewReno (§7, Appendix B): slow start, congestion avoidance, one
 *     window reduction per recovery period (a loss of a packet sent before
 *     the period began does not reduce again), persistent congestion;
 *     app-limited detection is left out (the engine is rarely app-limited
 *     while it has queued data, and cwnd_max bounds the growth);
 *   - a token-bucket pacer (§7.7).
 *
 * Nothing here reads a clock; the engine owns time.
 */
#include "core/recovery.h"

/* Samples are clamped here so that the 7/8 and 3/4 filters below cannot
 * overflow 64 bits (2^40 us is about 12 days: no real RTT). */
#define RTT_SAMPLE_MAX_US ((uint64_t)1 << 40)

/* RFC 9002 §7.2 */
#define INITIAL_WINDOW_PACKETS 10
#define INITIAL_WINDOW_FLOOR 14720

void weft__rtt_init(weft__rtt *r, uint64_t initial_us)
{
    if (initial_us == 0 || initial_us > RTT_SAMPLE_MAX_US)
        initial_us = WEFT__INITIAL_RTT_US;
    /* RFC 9002 §5.3 / §6.2.2: before any sample, smoothed_rtt = kInitialRtt
     * and rttvar = kInitialRtt / 2. */
    r->latest_us = 0;
    r->smoothed_us = initial_us;
    r->var_us = initial_us / 2;
    r->min_us = 0;
    r->has_sample = 0;
}

void weft__rtt_update(weft__rtt *r, uint64_t sample_us, uint64_t ack_delay_us,
                      uint64_t max_ack_delay_us)
{
    if (sample_us > RTT_SAMPLE_MAX_US)
        sample_us = RTT_SAMPLE_MAX_US;
    r->latest_us = sample_us;
    if (!r->has_sample) {
        /* §5.3: the first sample initialises the estimator; ack delay is
         * ignored for it. */
        r->min_us = sample_us;
        r->smoothed_us = sample_us;
        r->var_us = sample_us / 2;
        r->has_sample = 1;
        return;
    }
    /* §5.2: min_rtt uses the raw sample, without ack-delay adjustment. */
    if (sample_us < r->min_us)
        r->min_us = sample_us;
    if (ack_delay_us > max_ack_delay_us)
        ack_delay_us = max_ack_delay_us;
    uint64_t adjusted = sample_us;
    /* §5.3: subtract the ack delay only if the result stays >= min_rtt, so
     * a peer overstating its delay cannot drive the estimate down. */
    if (sample_us >= r->min_us + ack_delay_us)
        adjusted = sample_us - ack_delay_us;
    uint64_t diff = r->smoothed_us > adjusted ? r->smoothed_us - adjusted
                                              : adjusted - r->smoothed_us;
    /* rttvar = 3/4 rttvar + 1/4 |smoothed - adjusted|;
     * smoothed = 7/8 smoothed + 1/8 adjusted (order per §5.3). */
    r->var_us = (3 * r->var_us + diff) / 4;
    r->smoothed_us = (7 * r->smoothed_us + adjusted) / 8;
}

uint64_t weft__rtt_pto_us(const weft__rtt *r, uint64_t max_ack_delay_us)
{
    uint64_t v4 = 4 * r->var_us;
    return r->smoothed_us + (v4 > WEFT__GRANULARITY_US ? v4 : WEFT__GRANULARITY_US) +
           max_ack_delay_us;
}

uint64_t weft__rtt_loss_delay_us(const weft__rtt *r)
{
    uint64_t m = r->smoothed_us > r->latest_us ? r->smoothed_us : r->latest_us;
    uint64_t d = m * 9 / 8; /* kTimeThreshold = 9/8 */
    return d > WEFT__GRANULARITY_US ? d : WEFT__GRANULARITY_US;
}

/* ---- NewReno ------------------------------------------------------------ */

static void clamp_cwnd(weft__cc *cc)
{
    if (cc->cwnd > cc->cwnd_max)
        cc->cwnd = cc->cwnd_max;
    if (cc->cwnd < cc->cwnd_min)
        cc->cwnd = cc->cwnd_min;
}

void weft__cc_init(weft__cc *cc, uint32_t mss, uint64_t cwnd_max)
{
    if (mss == 0)
        mss = 1200;
    cc->mss = mss;
    cc->cwnd_min = 2 * (uint64_t)mss; /* kMinimumWindow, §7.2 */
    cc->cwnd_max = cwnd_max ? cwnd_max : UINT64_MAX;
    if (cc->cwnd_max < cc->cwnd_min)
        cc->cwnd_max = cc->cwnd_min;
    /* §7.2: min(10 * mss, max(14720, 2 * mss)) */
    uint64_t floor = INITIAL_WINDOW_FLOOR > cc->cwnd_min ? INITIAL_WINDOW_FLOOR : cc->cwnd_min;
    uint64_t iw = (uint64_t)INITIAL_WINDOW_PACKETS * mss;
    cc->cwnd = iw < floor ? iw : floor;
    cc->ssthresh = UINT64_MAX;
    cc->bytes_in_flight = 0;
    cc->recovery_start_us = 0;
    cc->acked_in_ca = 0;
    clamp_cwnd(cc);
}

/* a * num / den without overflowing for the window sizes we use. */
static uint64_t scale(uint64_t a, uint64_t num, uint64_t den)
{
    if (a == UINT64_MAX)
        return a;
    if (a <= UINT64_MAX / num)
        return a * num / den;
    return a / den * num;
}

void weft__cc_set_mss(weft__cc *cc, uint32_t mss)
{
    if (mss == 0 || mss == cc->mss)
        return;
    cc->cwnd = scale(cc->cwnd, mss, cc->mss);
    cc->ssthresh = scale(cc->ssthresh, mss, cc->mss);
    cc->acked_in_ca = scale(cc->acked_in_ca, mss, cc->mss);
    cc->mss = mss;
    cc->cwnd_min = 2 * (uint64_t)mss;
    if (cc->cwnd_max < cc->cwnd_min)
        cc->cwnd_max = cc->cwnd_min;
    clamp_cwnd(cc);
}

void weft__cc_on_sent(weft__cc *cc, uint64_t bytes)
{
    cc->bytes_in_flight += bytes;
}

static void remove_flight(weft__cc *cc, uint64_t bytes)
{
    cc->bytes_in_flight = bytes > cc->bytes_in_flight ? 0 : cc->bytes_in_flight - bytes;
}

/* Appendix B.5 InCongestionRecovery(sent_time).  recovery_start_us is never
 * 0 while a period is active (see on_lost), so 0 means "none". */
static int in_recovery(const weft__cc *cc, uint64_t sent_us)
{
    return cc->recovery_start_us != 0 && sent_us <= cc->recovery_start_us;
}

void weft__cc_on_acked(weft__cc *cc, uint64_t bytes, uint64_t sent_us)
{
    remove_flight(cc, bytes);
    /* B.5: no growth for packets sent before the current recovery began. */
    if (in_recovery(cc, sent_us))
        return;
    if (cc->cwnd < cc->ssthresh) {
        /* Slow start (§7.3.1): one byte per byte acked, i.e. the window
         * doubles per round trip. */
        cc->cwnd += bytes;
    } else {
        /* Congestion avoidance (§7.3.3): one mss per window acked, counted
         * in bytes so no fractions are lost. */
        cc->acked_in_ca += bytes;
        if (cc->acked_in_ca >= cc->cwnd) {
            cc->acked_in_ca -= cc->cwnd;
            cc->cwnd += cc->mss;
        }
    }
    clamp_cwnd(cc);
}

void weft__cc_on_lost(weft__cc *cc, uint64_t bytes, uint64_t largest_lost_sent_us,
                      uint64_t now_us)
{
    remove_flight(cc, bytes);
    /* B.6 OnCongestionEvent: one reduction per recovery period. */
    if (in_recovery(cc, largest_lost_sent_us))
        return;
    cc->recovery_start_us = now_us ? now_us : 1;
    cc->ssthresh = cc->cwnd / 2; /* kLossReductionFactor = 0.5 */
    cc->cwnd = cc->ssthresh;
    cc->acked_in_ca = 0;
    clamp_cwnd(cc); /* max(ssthresh, kMinimumWindow) */
}

void weft__cc_on_discarded(weft__cc *cc, uint64_t bytes)
{
    remove_flight(cc, bytes);
}

void weft__cc_on_persistent_congestion(weft__cc *cc)
{
    /* B.8: the window collapses to the minimum and recovery ends, so the
     * next acks grow it again in slow start up to ssthresh. */
    cc->cwnd = cc->cwnd_min;
    cc->recovery_start_us = 0;
    cc->acked_in_ca = 0;
}

int weft__cc_can_send(const weft__cc *cc, uint64_t bytes)
{
    return cc->bytes_in_flight <= cc->cwnd && bytes <= cc->cwnd - cc->bytes_in_flight;
}

/* ---- pacer ------------------------------------------------------------- */

/*
 * The bucket refills at rate = 5/4 * cwnd / srtt bytes per microsecond
 * (§7.7, N = 1.25).  The state is (tokens at last_us); the credit earned
 * since is computed on demand and only folded in when a packet is sent, so
 * polling next_us() at any frequency loses no sub-byte fractions.  A send
 * drops less than one byte of fractional credit.
 */
/* Bounds that keep every product below under 2^60: a bucket of at most
 * 16 MiB, srtt of at most 2^32 us (71 minutes), cwnd of at most 2^56. */
#define PACER_BURST_MAX ((uint64_t)1 << 24)
#define PACER_SRTT_MAX_US ((uint64_t)1 << 32)
#define PACER_CWND_MAX ((uint64_t)1 << 56)

static uint64_t burst_of(const weft__pacer *p, const weft__cc *cc)
{
    uint64_t ten = 10 * (uint64_t)cc->mss;
    uint64_t b = p->burst_bytes > ten ? p->burst_bytes : ten;
    return b > PACER_BURST_MAX ? PACER_BURST_MAX : b;
}

static uint64_t pacer_srtt(const weft__rtt *r)
{
    return r->smoothed_us > PACER_SRTT_MAX_US ? PACER_SRTT_MAX_US : r->smoothed_us;
}

static uint64_t pacer_cwnd(const weft__cc *cc)
{
    return cc->cwnd > PACER_CWND_MAX ? PACER_CWND_MAX : cc->cwnd;
}

/* 1 when pacing is off: no rate defined (srtt or cwnd of 0). */
static int unpaced(const weft__cc *cc, const weft__rtt *r)
{
    return r->smoothed_us == 0 || cc->cwnd == 0;
}

/* Tokens in the bucket at now_us (at most one burst). */
static uint64_t available(const weft__pacer *p, const weft__cc *cc, const weft__rtt *r,
                          uint64_t now_us)
{
    uint64_t burst = burst_of(p, cc);
    uint64_t tok = p->tokens > burst ? burst : p->tokens; /* "full" from init */
    if (unpaced(cc, r))
        return burst;
    if (now_us <= p->last_us)
        return tok;
    uint64_t dt = now_us - p->last_us;
    uint64_t srtt = pacer_srtt(r), cwnd = pacer_cwnd(cc);
    /* Time to fill the whole bucket from empty, rounded up; beyond it the
     * bucket is simply full (and dt * cwnd cannot overflow below it). */
    uint64_t full_us = (burst * 4 * srtt + 5 * cwnd - 1) / (5 * cwnd);
    if (dt >= full_us)
        return burst;
    uint64_t add = dt * 5 * cwnd / (4 * srtt);
    return tok + add > burst ? burst : tok + add;
}

void weft__pacer_init(weft__pacer *p, uint64_t burst_bytes, uint64_t now_us)
{
    p->burst_bytes = burst_bytes;
    /* Start full.  The bucket size depends on the mss (at least 10
     * packets), known only later: the first refill clamps this. */
    p->tokens = UINT64_MAX;
    p->last_us = now_us;
}

uint64_t weft__pacer_next_us(weft__pacer *p, const weft__cc *cc,
                             const weft__rtt *r, uint64_t bytes, uint64_t now_us)
{
    if (unpaced(cc, r))
        return now_us;
    uint64_t burst = burst_of(p, cc);
    /* A packet larger than the bucket needs only a full bucket. */
    uint64_t need = bytes < burst ? bytes : burst;
    if (available(p, cc, r, now_us) >= need)
        return now_us;
    /* The bucket holds `need` once last_us + ceil(deficit / rate) passed. */
    uint64_t tok = p->tokens > burst ? burst : p->tokens;
    uint64_t deficit = need - tok;
    uint64_t cwnd = pacer_cwnd(cc);
    uint64_t wait = (deficit * 4 * pacer_srtt(r) + 5 * cwnd - 1) / (5 * cwnd);
    uint64_t at = p->last_us + wait;
    return at > now_us ? at : now_us;
}

void weft__pacer_on_sent(weft__pacer *p, const weft__cc *cc, const weft__rtt *r,
                         uint64_t bytes, uint64_t now_us)
{
    uint64_t avail = available(p, cc, r, now_us);
    p->tokens = bytes > avail ? 0 : avail - bytes;
    if (now_us > p->last_us)
        p->last_us = now_us;
}
