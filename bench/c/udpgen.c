/*
 * udpgen: the traffic generator and receiver of the forwarding benchmark
 * (bench/forward.ts). One binary; each role prints one JSON object on stdout
 * when it ends.
 *
 *   udpgen send --dst IP --port P --seconds S [--rate PPS [--burst N]] [--gso N]
 *               [--size N] [--tag T]
 *     Sends UDP datagrams of N bytes (default 18, at least 18) from a connected
 *     socket. Payload: tag (u16), sequence number (u64, from 0), send time
 *     (u64 ns of CLOCK_MONOTONIC, which every network namespace shares), in
 *     host byte order. With --gso N (UDP_SEGMENT) one message carries up to N
 *     datagrams that the kernel cuts apart on the way out: the same packets
 *     for a fraction of the sender's CPU. Flat out (no --rate): sendmmsg of 64
 *     messages (8 with --gso), one time stamp a call. Paced (--rate): the
 *     packets owed are sent back to back after each sleep (timer slack 1 ns,
 *     so sleeps end on time), in calls of up to --burst packets (default 1:
 *     one send() a packet, each stamped just before it leaves, as latency
 *     measurements need). Output: {"role":"send","sent","failed","seconds",
 *     "pps","rate","gso","cpuSeconds"}
 *
 *   udpgen recv --bind IP --port P [--timeout S] [--tag T] [--stamps]
 *     Receives with recvmmsg (256 a call; after a short batch it naps 200 us,
 *     so it costs little CPU beside the sender) until SIGINT/SIGTERM or
 *     --timeout, counting unique sequence numbers of its tag in a growing
 *     bitmap (duplicates, reordering and foreign datagrams apart). With
 *     --stamps it records one-way latency = receive time - send time in a
 *     histogram of 0.1 us buckets up to 10 ms (beyond: one overflow bucket,
 *     and the maximum). The receive time is the kernel's (SO_TIMESTAMPNS,
 *     taken when the packet entered the receiving namespace's stack;
 *     CLOCK_REALTIME brought to CLOCK_MONOTONIC by an offset measured every
 *     second), so the receiver's naps and scheduling do not count. Socket
 *     overflows: the namespace's UDP RcvbufErrors (/proc/net/snmp) over the
 *     run. Prints "ready" on stderr once bound. Output: {"role":"recv",
 *     "received","duplicates","reordered","foreign","socketDrops","firstNs",
 *     "lastNs","maxSeq","timestamps","latencyUs":{"count","mean","p50","p90",
 *     "p99","p999","max"},"cpuSeconds"}
 *
 *   udpgen no-tx-csum DEV
 *     Turns off DEV's tx checksum offload (`ethtool -K DEV tx off`, without
 *     needing ethtool): the lab's kernel vxlan devices would otherwise hand a
 *     userspace VTEP inner UDP checksums nobody completes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_MIN 18
#define SEND_BURST 64
#define RECV_BURST 256
#define RECV_NAP_NS 200000 /* after a short batch: fewer, fuller calls; kernel stamps keep latency exact */
#define BUCKET_NS 100
#define BUCKETS 100000 /* 0.1 us x 100000 = 10 ms */

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t real_minus_mono(void) {
  struct timespec a, r, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  clock_gettime(CLOCK_REALTIME, &r);
  clock_gettime(CLOCK_MONOTONIC, &b);
  int64_t mono = ((int64_t)a.tv_sec + (int64_t)b.tv_sec) * 500000000ll +
                 ((int64_t)a.tv_nsec + (int64_t)b.tv_nsec) / 2;
  return (int64_t)r.tv_sec * 1000000000ll + (int64_t)r.tv_nsec - mono;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "udpgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: udpgen send --dst IP --port P --seconds S [--rate PPS [--burst N]] [--gso N]\n"
          "                   [--size N] [--tag T]\n"
          "       udpgen recv --bind IP --port P [--timeout S] [--tag T] [--stamps]\n"
          "       udpgen no-tx-csum DEV\n");
  exit(2);
}

struct options {
  const char *addr;
  int port;
  double seconds;
  double rate;
  int size;
  int burst;
  int gso;
  int stamps;
  unsigned tag;
};

static void parse(int argc, char **argv, struct options *o) {
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--stamps")) {
      o->stamps = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    const char *k = argv[i], *v = argv[++i];
    if (!strcmp(k, "--dst") || !strcmp(k, "--bind"))
      o->addr = v;
    else if (!strcmp(k, "--port"))
      o->port = atoi(v);
    else if (!strcmp(k, "--seconds") || !strcmp(k, "--timeout"))
      o->seconds = atof(v);
    else if (!strcmp(k, "--rate"))
      o->rate = atof(v);
    else if (!strcmp(k, "--gso"))
      o->gso = atoi(v);
    else if (!strcmp(k, "--burst"))
      o->burst = atoi(v);
    else if (!strcmp(k, "--size"))
      o->size = atoi(v);
    else if (!strcmp(k, "--tag"))
      o->tag = (unsigned)atoi(v) & 0xffff;
    else
      usage();
  }
  if (o->addr == NULL || o->port <= 0 || o->port > 65535 || o->size < PAYLOAD_MIN ||
      o->size > 1400 || o->burst < 1 || o->burst > SEND_BURST ||
      o->gso < 1 || o->gso > 64 || o->gso * o->size > 65000)
    usage();
}

static struct sockaddr_in address(const struct options *o) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
  if (inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "udpgen: not an IPv4 address: %s\n", o->addr);
    exit(2);
  }
  return sa;
}

static void stamp(unsigned char *p, uint16_t tag, uint64_t seq, uint64_t ns) {
  memcpy(p, &tag, 2);
  memcpy(p + 2, &seq, 8);
  memcpy(p + 10, &ns, 8);
}

/* ---- send ----------------------------------------------------------------- */

static int run_send(const struct options *o) {
  struct sockaddr_in to = address(o);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  int sndbuf = 4 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (connect(s, (struct sockaddr *)&to, sizeof to) < 0) die("connect");
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  /* With UDP GSO a message of k * size bytes leaves as k datagrams of size bytes; a
     message of size bytes is an ordinary datagram. */
  const int segs = o->gso;
  if (segs > 1) {
    int gso_size = o->size;
    if (setsockopt(s, SOL_UDP, UDP_SEGMENT, &gso_size, sizeof gso_size) < 0) die("UDP_SEGMENT");
  }
  const int per_call = segs > 1 ? 8 : SEND_BURST; /* messages a flat-out sendmmsg carries */
  const size_t msg_bytes = (size_t)segs * (size_t)o->size;
  unsigned char *data = calloc((size_t)per_call, msg_bytes);
  struct mmsghdr msgs[SEND_BURST];
  struct iovec iov[SEND_BURST];
  if (data == NULL) die("calloc");
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < per_call; i++) {
    iov[i].iov_base = data + (size_t)i * msg_bytes;
    iov[i].iov_len = msg_bytes;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  const uint16_t tag = (uint16_t)o->tag;
  uint64_t sent = 0, failed = 0, seq = 0;
  const uint64_t t0 = mono_ns();
  const uint64_t end = t0 + (uint64_t)(o->seconds * 1e9);
  uint64_t now = t0;
  while (!stop && now < end) {
    if (o->rate <= 0) {
      const uint64_t k = (uint64_t)per_call * (uint64_t)segs;
      for (uint64_t i = 0; i < k; i++) stamp(data + i * (size_t)o->size, tag, seq + i, now);
      int n = sendmmsg(s, msgs, (unsigned)per_call, 0);
      if (n < 0) {
        failed++;
      } else {
        sent += (uint64_t)n * (uint64_t)segs;
        seq += (uint64_t)n * (uint64_t)segs;
      }
      now = mono_ns();
      continue;
    }
    /* Paced: send what is owed, in calls of up to --burst packets (one message, GSO
       segmented, or one sendmmsg), each call's packets stamped just before it; then
       sleep until the next packet is due. */
    uint64_t owed = (uint64_t)((double)(now - t0) * o->rate / 1e9) + 1;
    while (seq < owed && !stop && now < end) {
      int k = owed - seq < (uint64_t)o->burst ? (int)(owed - seq) : o->burst;
      now = mono_ns();
      for (int i = 0; i < k; i++) stamp(data + (size_t)i * (size_t)o->size, tag, seq + (uint64_t)i, now);
      int n;
      if (k == 1 || segs > 1) {
        if (k > segs) k = segs;
        n = send(s, data, (size_t)k * (size_t)o->size, 0) < 0 ? -1 : k;
      } else {
        for (int i = 0; i < k; i++) {
          iov[i].iov_base = data + (size_t)i * (size_t)o->size;
          iov[i].iov_len = (size_t)o->size;
        }
        n = sendmmsg(s, msgs, (unsigned)k, 0);
      }
      if (n < 0) {
        failed++;
        n = k; /* refused: counted as a failed call, numbers skipped so pacing holds */
      } else {
        sent += (uint64_t)n;
      }
      seq += (uint64_t)n;
    }
    now = mono_ns();
    uint64_t due = t0 + (uint64_t)((double)seq * 1e9 / o->rate);
    if (due > now) {
      struct timespec d = {(time_t)((due - now) / 1000000000ull), (long)((due - now) % 1000000000ull)};
      nanosleep(&d, NULL);
      now = mono_ns();
    }
  }
  double secs = (double)(now - t0) / 1e9;
  printf("{\"role\":\"send\",\"sent\":%llu,\"failed\":%llu,\"seconds\":%.6f,\"pps\":%.0f,"
         "\"rate\":%.0f,\"gso\":%d,\"cpuSeconds\":%.3f}\n",
         (unsigned long long)sent, (unsigned long long)failed, secs, (double)sent / secs, o->rate,
         segs, cpu_seconds());
  free(data);
  return 0;
}

/* ---- recv ----------------------------------------------------------------- */

static uint8_t *seen;
static uint64_t seen_bytes;

/* Marks seq; answers 1 when it was new. */
static int mark(uint64_t seq) {
  uint64_t byte = seq >> 3;
  if (byte >= seen_bytes) {
    if (seq > (1ull << 36)) return -1; /* absurd: treat as foreign */
    uint64_t n = seen_bytes ? seen_bytes : 1 << 20;
    while (n <= byte) n *= 2;
    uint8_t *p = realloc(seen, n);
    if (p == NULL) die("realloc");
    memset(p + seen_bytes, 0, n - seen_bytes);
    seen = p;
    seen_bytes = n;
  }
  uint8_t bit = (uint8_t)(1u << (seq & 7));
  if (seen[byte] & bit) return 0;
  seen[byte] |= bit;
  return 1;
}

/* Datagrams this namespace's UDP dropped for a full receive buffer (/proc/net/snmp). */
static uint64_t udp_rcvbuf_errors(void) {
  FILE *f = fopen("/proc/net/snmp", "r");
  if (f == NULL) return 0;
  char names[1024], values[1024];
  uint64_t found = 0;
  while (fgets(names, sizeof names, f) != NULL) {
    if (strncmp(names, "Udp:", 4) != 0 || fgets(values, sizeof values, f) == NULL) continue;
    char *ns = NULL, *vs = NULL;
    char *n = strtok_r(names, " \n", &ns), *v = strtok_r(values, " \n", &vs);
    while (n != NULL && v != NULL) {
      if (!strcmp(n, "RcvbufErrors")) found = strtoull(v, NULL, 10);
      n = strtok_r(NULL, " \n", &ns);
      v = strtok_r(NULL, " \n", &vs);
    }
    break;
  }
  fclose(f);
  return found;
}

static double percentile(const uint32_t *hist, uint64_t count, double q, double max_us) {
  if (count == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)(count - 1)) + 1, acc = 0;
  for (int b = 0; b <= BUCKETS; b++) {
    acc += hist[b];
    if (acc >= rank) {
      if (b == BUCKETS) return max_us;
      double mid = ((double)b + 0.5) * BUCKET_NS / 1000.0;
      return mid < max_us ? mid : max_us;
    }
  }
  return max_us;
}

static int run_recv(const struct options *o) {
  struct sockaddr_in at = address(o);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  int one = 1, rcvbuf = 32 << 20;
  if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int kernel_ts = o->stamps && setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
  const uint64_t rcvbuf_errors0 = udp_rcvbuf_errors();
  if (bind(s, (struct sockaddr *)&at, sizeof at) < 0) die("bind");
  if (o->seconds > 0) alarm((unsigned)(o->seconds + 0.999));
  fprintf(stderr, "ready\n");

  static unsigned char bufs[RECV_BURST][2048];
  static char ctrl[RECV_BURST][256];
  static uint32_t hist[BUCKETS + 1];
  struct mmsghdr msgs[RECV_BURST];
  struct iovec iov[RECV_BURST];
  for (int i = 0; i < RECV_BURST; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
  }
  const uint16_t tag = (uint16_t)o->tag;
  uint64_t received = 0, duplicates = 0, reordered = 0, foreign = 0, max_seq = 0;
  uint64_t first_ns = 0, last_ns = 0, lat_count = 0;
  double lat_sum = 0, lat_max = 0;
  int64_t offset = real_minus_mono();
  uint64_t offset_at = mono_ns();
  int any = 0;
  const struct timespec nap = {0, RECV_NAP_NS};
  while (!stop) {
    for (int i = 0; i < RECV_BURST; i++) {
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
    }
    int n = recvmmsg(s, msgs, RECV_BURST, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) die("recvmmsg");
      /* Nothing waits: block until something does (or a signal). */
      struct pollfd p = {.fd = s, .events = POLLIN};
      poll(&p, 1, -1);
      continue;
    }
    if (n < RECV_BURST) nanosleep(&nap, NULL); /* let the next call find a full batch */
    uint64_t now = mono_ns();
    if (now - offset_at > 1000000000ull) {
      offset = real_minus_mono();
      offset_at = now;
    }
    for (int i = 0; i < n; i++) {
      unsigned char *p = bufs[i];
      uint16_t t;
      uint64_t seq, sent_ns;
      memcpy(&t, p, 2);
      memcpy(&seq, p + 2, 8);
      memcpy(&sent_ns, p + 10, 8);
      if (msgs[i].msg_len < PAYLOAD_MIN || t != tag) {
        foreign++;
        continue;
      }
      uint64_t rx_ns = now;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL;
           c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          int64_t real = (int64_t)ts.tv_sec * 1000000000ll + (int64_t)ts.tv_nsec;
          if (real != 0) rx_ns = (uint64_t)(real - offset);
        }
      }
      int fresh = mark(seq);
      if (fresh < 0) {
        foreign++;
        continue;
      }
      if (!fresh) {
        duplicates++;
        continue;
      }
      received++;
      if (any && seq < max_seq) reordered++;
      if (!any || seq > max_seq) max_seq = seq;
      if (!any) first_ns = now;
      any = 1;
      last_ns = now;
      if (!kernel_ts) continue;
      double lat_ns = rx_ns > sent_ns ? (double)(rx_ns - sent_ns) : 0;
      uint64_t b = (uint64_t)(lat_ns / BUCKET_NS);
      hist[b < BUCKETS ? b : BUCKETS]++;
      lat_count++;
      lat_sum += lat_ns;
      if (lat_ns > lat_max) lat_max = lat_ns;
    }
  }
  double max_us = lat_max / 1000.0;
  const uint64_t socket_drops = udp_rcvbuf_errors() - rcvbuf_errors0;
  printf("{\"role\":\"recv\",\"received\":%llu,\"duplicates\":%llu,\"reordered\":%llu,"
         "\"foreign\":%llu,\"socketDrops\":%llu,\"firstNs\":%llu,\"lastNs\":%llu,\"maxSeq\":%llu,"
         "\"timestamps\":\"%s\",\"latencyUs\":{\"count\":%llu,\"mean\":%.2f,\"p50\":%.2f,"
         "\"p90\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f},\"cpuSeconds\":%.3f}\n",
         (unsigned long long)received, (unsigned long long)duplicates,
         (unsigned long long)reordered, (unsigned long long)foreign,
         (unsigned long long)socket_drops, (unsigned long long)first_ns,
         (unsigned long long)last_ns, (unsigned long long)max_seq, kernel_ts ? "kernel" : "none",
         (unsigned long long)lat_count, lat_count ? lat_sum / (double)lat_count / 1000.0 : 0,
         percentile(hist, lat_count, 0.50, max_us), percentile(hist, lat_count, 0.90, max_us),
         percentile(hist, lat_count, 0.99, max_us), percentile(hist, lat_count, 0.999, max_us),
         max_us, cpu_seconds());
  return 0;
}

/* ---- no-tx-csum ----------------------------------------------------------- */

/* Turns off a device's tx checksum offload (what `ethtool -K DEV tx off` does). */
static int run_no_tx_csum(const char *dev) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  struct ethtool_value v = {.cmd = ETHTOOL_STXCSUM, .data = 0};
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  ifr.ifr_data = (char *)&v;
  if (ioctl(s, SIOCETHTOOL, &ifr) < 0) die(dev);
  close(s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "no-tx-csum")) return run_no_tx_csum(argv[2]);
  if (argc < 2) usage();
  struct options o = {.size = PAYLOAD_MIN, .burst = 1, .gso = 1, .seconds = 0, .rate = 0, .tag = 0};
  parse(argc, argv, &o);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: blocking calls return EINTR */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(argv[1], "send")) {
    if (o.seconds <= 0) usage();
    return run_send(&o);
  }
  if (!strcmp(argv[1], "recv")) return run_recv(&o);
  usage();
  return 2;
}
