#!/usr/bin/env python3
"""make_seeds.py -- writes the seed corpora of the stateful engine fuzzers
(fuzz/corpus/fuzz_session/, fuzz/corpus/fuzz_packet/): inputs that reach
deep states -- after a rekey, mid-fragmentation, a full receive buffer,
receipts pending, a module channel, a restart, cookies under load, a
membership join, large packets under the real AEAD.  The encodings are
those of fuzz/fuzz_session.c and fuzz/fuzz_packet.c.  Run it from anywhere;
it rewrites the seed files it names and leaves other files alone."""
import os

ROOT = os.path.dirname(os.path.abspath(__file__))

# config flags (fuzz/fuzzworld.h)
MEMBERSHIP, SMALL_BUFS, LOW_RATE, FAST_REKEY = 0x01, 0x02, 0x04, 0x08
NO_SESSION, ECHO, BIG_MTU, REAL_AEAD = 0x10, 0x20, 0x40, 0x80
A, B = 0, 1
APP, ECHO_CH, NOBODY = 0, 1, 2
RECEIPT, UNORDERED, UNRELIABLE = 0x10, 0x04, 0x08


def op(code, arg=0, *operands):
    return bytes([(arg << 4) | code]) + bytes(operands)


def deliver(n=1): return op(0, (n - 1) << 1)
def deliver_at(k): return op(1, 0, k)
def drop(k): return op(2, 0, k)
def dup(k): return op(3, 0, k)
def replay(k): return op(4, 0, k)
def mutate(k, pairs):
    return op(5, 0, k, len(pairs)) + bytes(b for p in pairs for b in p)
def inject(node, body, src=0, nomac=False):
    return op(6, node | (2 if nomac else 0), len(body) & 255, len(body) >> 8, src) + body
def seal(node, body, prev=False, oldpn=False):
    return op(7, node | (2 if prev else 0) | (4 if oldpn else 0),
              len(body) & 255, len(body) >> 8) + body
def time(t): return op(8, 0, t)           # t*t*50 us
def send(node, size, flags=0, ch=APP): return op(9, node | (ch << 1), flags, size)
def kib(n): return 64 + 4 * n             # size class of n KiB (<= 47)
def poll(node): return op(10, node)
def connect(node, self=False): return op(11, node | (2 if self else 0))
def close(node): return op(12, node)
def restart(node): return op(13, node)
def join(node): return op(14, node)
def leave(node): return op(14, node | 2)
def run(rounds=1): return op(15, (rounds - 1) << 1)


def settle(n=2):
    return b"".join(run(8) + time(60) for _ in range(n))


HS_INIT = bytes([1, 2]) + bytes(174)

SESSION = {
    "big_mtu": bytes([BIG_MTU]) + settle(2) + send(A, kib(20), RECEIPT) + settle(3),
    "basic": bytes([0]) + send(A, 20, RECEIPT) + send(B, 3) + settle(),
    "every_kind": bytes([0]) + send(A, 10) + send(A, 10, UNORDERED | 1) +
        send(A, 10, UNRELIABLE | 2) + send(B, 30, RECEIPT | UNORDERED) + settle(),
    "rekey": bytes([FAST_REKEY]) + send(A, kib(3), RECEIPT) + settle() + time(160) +
        run(6) + send(A, 40) + replay(0) + replay(3) + seal(B, bytes([1]), prev=True) +
        send(B, 40) + settle(),
    "rekey_by_packets": bytes([FAST_REKEY]) + send(A, kib(40)) + settle(4),
    "mid_fragmentation": bytes([0]) + send(A, kib(30), RECEIPT) + deliver(2) +
        drop(1) + deliver_at(3) + dup(0) + mutate(2, [(7, 1), (40, 0x80)]) + settle(3),
    "full_receive_buffer": bytes([SMALL_BUFS]) + poll(B) + send(A, kib(40), RECEIPT) +
        settle(3) + send(A, kib(40)) + send(A, 10) + poll(B) + settle(3),
    "receipts_pending": bytes([0]) + poll(A) + send(A, 5, RECEIPT) + send(A, 6, RECEIPT) +
        run(8) + close(B) + settle() + poll(A) + run(1),
    "module_channel": bytes([ECHO]) + send(A, 8, RECEIPT, ECHO_CH) + send(B, 3, 0, NOBODY) +
        settle(),
    "restart": bytes([0]) + send(A, 20, RECEIPT) + deliver(1) + restart(B) + connect(B) +
        settle(3) + send(A, 4, RECEIPT) + settle(),
    "restart_mid_transfer": bytes([0]) + send(A, kib(8), RECEIPT) + deliver(3) +
        restart(B) + settle(4),
    "cookies_under_load": bytes([LOW_RATE | NO_SESSION]) + connect(A) + connect(B) +
        inject(B, HS_INIT, 2) + inject(B, HS_INIT, 2 | 4) + inject(B, HS_INIT, 2) +
        inject(B, HS_INIT, 0) + settle(3),
    "cookie_reply": bytes([LOW_RATE | NO_SESSION]) + connect(A) +
        inject(A, bytes([4, 2]) + bytes(52)) + settle(),
    "membership": bytes([MEMBERSHIP | NO_SESSION]) + join(A) + settle(3) + send(A, 4) +
        settle() + leave(B) + settle(),
    "forged_msg2": bytes([NO_SESSION]) + connect(A) + deliver(1) +
        mutate(0, [(20, 1), (60, 4)]) + settle(),
    "forged_msg3": bytes([NO_SESSION]) + connect(A) + deliver(2) +
        mutate(0, [(10, 1), (90, 2)]) + settle(),
    "bulk_aead": bytes([REAL_AEAD | BIG_MTU]) + send(A, kib(40), RECEIPT) + settle(3) +
        send(B, kib(8)) + deliver(1) + mutate(0, [(3, 3)]) + settle(),
    "dial_self": bytes([NO_SESSION]) + connect(A, self=True) + settle(3),
    "loss_and_timers": bytes([0]) + send(A, kib(10)) + drop(0) + drop(2) +
        time(40) + run(4) + time(100) + settle(3) + time(255) + time(255) + run(4),
    "idle_expiry": bytes([0]) + send(A, 2) + settle() + drop(0) + time(255) + time(255) +
        time(255) + time(255) + time(255) + run(2) + time(255) + time(255) + time(255),
    "close_and_redial": bytes([0]) + close(A) + settle() + connect(B) + settle() +
        send(B, 3, RECEIPT) + settle(),
}

# fuzz_packet: byte 0 = state | mode << 3 | real aead 0x20 | membership
# 0x40 | module 0x80, then the bytes for the mode.
PACKET = {}
for state in range(8):
    PACKET["state%d_honest" % state] = bytes([state])
    PACKET["state%d_flip" % state] = bytes([state]) + bytes(12) + b"\x01"
PACKET["state3_frames"] = bytes([3 | 2 << 3]) + bytes([1, 0, 0])
# frame sequences of the earlier single-packet fuzzer's corpus (ACK, CLOSE,
# MAX_DATA, a fragmented message, a message, PING), sealed as DATA
for name, hexframes in [("ack", "0202000002"), ("close", "0500"), ("maxdata", "04440001"),
                        ("msg_frag", "0304000a0505776f726c640304000a000568656c6c6f"),
                        ("msg_hello", "03020005000568656c6c6f"), ("ping", "01")]:
    PACKET["state3_frames_" + name] = bytes([3 | 2 << 3]) + bytes.fromhex(hexframes)
PACKET["state3_real_aead"] = bytes([3 | 0x20])
PACKET["state7_real_aead"] = bytes([7 | 0x20])
PACKET["state1_raw_resp"] = bytes([1 | 1 << 3, 2, 2]) + bytes(168)
PACKET["state6_raw_cookie"] = bytes([6 | 1 << 3, 4, 2]) + bytes(52)
PACKET["state0_membership"] = bytes([0 | 0x40, 0x20]) + bytes(40)
PACKET["state3_module"] = bytes([3 | 0x80])


def write(target, seeds):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("fuzz_session", SESSION)
write("fuzz_packet", PACKET)
