/*
 * recovery.h -- RTT estimation, probe timeout, NewReno congestion control
 * and pacing, after RFC 9002 (QUIC loss detection and congestion control)
 * §5, §6.2, §7 and RFC 6298.  Pure arithmetic on microsecond timestamps.
 */
#ifndef WEFT_CORE_RECOVERY_H
#define WEFT_CORE_RECOVERY_H

#include <stdint.h>

#define WEFT__GRANULARITY_US 1000       /* RFC 9002 kGranularity */
#define WEFT__INITIAL_RTT_US 333000     /* RFC 9002 §6.2.2 */
#define WEFT__PACKET_THRESHOLD 3        /* RFC 9002 §6.1.1 */

typedef struct weft__rtt {
    uint64_t latest_us;
    uint64_t smoothed_us;
    uint64_t var_us;
    uint64_t min_us;
    int has_sample;
} weft__rtt;

void weft__rtt_init(weft__rtt *r, uint64_t initial_us);
/* RFC 9002 §5.3: ack_delay is subtracted when it keeps the sample above
 * min_rtt; it is capped at max_ack_delay_us. */
void weft__rtt_update(weft__rtt *r, uint64_t sample_us, uint64_t ack_delay_us,
                      uint64_t max_ack_delay_us);
/* PTO duration (RFC 9002 §6.2.1) before backoff: srtt + max(4*rttvar,
 * granularity) + max_ack_delay. */
uint64_t weft__rtt_pto_us(const weft__rtt *r, uint64_t max_ack_delay_us);
/* Loss time threshold (RFC 9002 §6.1.2): 9/8 * max(srtt, latest), at least
 * granularity. */
uint64_t weft__rtt_loss_delay_us(const weft__rtt *r);

/* NewReno (RFC 9002 §7, Appendix B), in bytes. */
typedef struct weft__cc {
    uint64_t cwnd;
    uint64_t ssthresh;
    uint64_t bytes_in_flight;
    uint64_t recovery_start_us;  /* start of the latest recovery period
                                    (never 0 once set); 0 = none */
    uint64_t acked_in_ca;        /* bytes acked toward the next increase */
    uint32_t mss;
    uint64_t cwnd_min;           /* 2 * mss */
    uint64_t cwnd_max;           /* cap, bytes */
} weft__cc;

/* Initial window min(10 * mss, max(14720, 2 * mss)) (§7.2); cwnd_max 0 =
 * unlimited; mss 0 = 1200. */
void weft__cc_init(weft__cc *cc, uint32_t mss, uint64_t cwnd_max);
/* The path's packet size changed (MTU probe). Window scales with it. */
void weft__cc_set_mss(weft__cc *cc, uint32_t mss);
void weft__cc_on_sent(weft__cc *cc, uint64_t bytes);
/* A packet sent at sent_us was acknowledged. */
void weft__cc_on_acked(weft__cc *cc, uint64_t bytes, uint64_t sent_us);
/* Packets were declared lost; the newest of them was sent at
 * largest_lost_sent_us.  Enters recovery once per round trip. */
void weft__cc_on_lost(weft__cc *cc, uint64_t bytes, uint64_t largest_lost_sent_us,
                      uint64_t now_us);
/* Bytes removed from flight without a congestion signal (abandoned). */
void weft__cc_on_discarded(weft__cc *cc, uint64_t bytes);
/* RFC 9002 §7.6: collapse to the minimum window. */
void weft__cc_on_persistent_congestion(weft__cc *cc);
/* 1 when bytes more may be put in flight. */
int weft__cc_can_send(const weft__cc *cc, uint64_t bytes);

/*
 * Pacer (RFC 9002 §7.7): a token bucket refilled at
 * 5/4 * cwnd / srtt bytes per second, with a burst allowance of
 * burst_bytes (at least 10 packets).  Leaky enough on loopback that pacing
 * costs no throughput, strict enough on slow paths.
 */
typedef struct weft__pacer {
    uint64_t tokens;       /* bytes */
    uint64_t last_us;
    uint64_t burst_bytes;
} weft__pacer;

/* The bucket starts full.  burst_bytes is raised to 10 * cc->mss when used
 * (so 0 means "10 packets") and capped at 16 MiB. */
void weft__pacer_init(weft__pacer *p, uint64_t burst_bytes, uint64_t now_us);
/* Earliest time a packet of `bytes` may leave (== now_us when it may now).
 * Does not consume tokens; call as often as wanted.  Unpaced (always now)
 * while srtt is 0. */
uint64_t weft__pacer_next_us(weft__pacer *p, const weft__cc *cc,
                             const weft__rtt *r, uint64_t bytes, uint64_t now_us);
/* Spends tokens for a packet sent at now_us. */
void weft__pacer_on_sent(weft__pacer *p, const weft__cc *cc, const weft__rtt *r,
                         uint64_t bytes, uint64_t now_us);

#endif
