/*
 * tunfwd: the C baseline the Node substrate is measured against.
 *
 * Attaches to two existing TUN devices by name (TUNSETIFF, IFF_TUN |
 * IFF_NO_PI, non-blocking) and forwards every packet read from one to the
 * other, in both directions, until SIGINT/SIGTERM or --seconds runs out, then
 * prints one summary line. It does nothing else (no parsing, no checks), so it
 * is the ceiling for a userspace forwarder on this kernel. Two modes:
 *
 *   --mode rw     poll() on both fds, then one read() and one write() per
 *                 packet (up to 64 packets per fd per wake-up): the classic
 *                 loop, bound by two system calls per packet.
 *   --mode uring  one io_uring; 64 reads in flight per device, each into its
 *                 own 2048-byte buffer. A completed read becomes a write of the
 *                 same buffer to the other device (no copy); a completed write
 *                 re-arms the read. All the SQEs produced by one batch of
 *                 completions go to the kernel in one io_uring_submit_and_wait.
 *
 * Packets larger than 2048 bytes are truncated (keep the MTU at or below it).
 *
 * Usage: tunfwd [--mode rw|uring] [--seconds N] [--quiet] DEV_A DEV_B
 * Output: tunfwd mode=M a_to_b=N b_to_a=N errors=N seconds=S pps=R
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOT_SIZE 2048
#define READS_PER_DEV 64
#define BURST 64

static volatile sig_atomic_t stop;
static uint64_t forwarded[2]; /* [0] = A -> B, [1] = B -> A */
static uint64_t errors;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "tunfwd: open /dev/net/tun: %s\n", strerror(errno));
    exit(1);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    fprintf(stderr, "tunfwd: TUNSETIFF %s: %s\n", name, strerror(errno));
    exit(1);
  }
  return fd;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_rw(const int fd[2]) {
  static unsigned char buf[SLOT_SIZE];
  struct pollfd pfd[2] = {{.fd = fd[0], .events = POLLIN}, {.fd = fd[1], .events = POLLIN}};
  while (!stop) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("tunfwd: poll");
      exit(1);
    }
    for (int d = 0; d < 2; d++) {
      if (!(pfd[d].revents & POLLIN)) continue;
      for (int i = 0; i < BURST; i++) {
        ssize_t n = read(fd[d], buf, sizeof buf);
        if (n < 0) {
          if (errno != EAGAIN && errno != EINTR) errors++;
          break;
        }
        if (write(fd[1 - d], buf, (size_t)n) == n)
          forwarded[d]++;
        else
          errors++;
      }
    }
  }
}

/* user_data: slot index in the low 32 bits, 1 in bit 32 for a write. */
#define OP_WRITE (1ULL << 32)

static void run_uring(const int fd[2]) {
  enum { SLOTS = 2 * READS_PER_DEV };
  static unsigned char bufs[SLOTS][SLOT_SIZE];
  struct io_uring ring;
  int ret = io_uring_queue_init(2 * SLOTS, &ring, 0);
  if (ret < 0) {
    fprintf(stderr, "tunfwd: io_uring_queue_init: %s\n", strerror(-ret));
    exit(1);
  }
  /* Slot s belongs to device s / READS_PER_DEV: it reads from that device and
     writes to the other one. Every slot has exactly one operation in flight,
     so the submission queue (2 * SLOTS entries) never runs out. */
  for (unsigned s = 0; s < SLOTS; s++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, fd[s / READS_PER_DEV], bufs[s], SLOT_SIZE, (uint64_t)-1);
    sqe->user_data = s;
  }
  while (!stop) {
    ret = io_uring_submit_and_wait(&ring, 1);
    if (ret < 0) {
      if (ret == -EINTR) continue;
      fprintf(stderr, "tunfwd: io_uring_submit_and_wait: %s\n", strerror(-ret));
      exit(1);
    }
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      seen++;
      unsigned s = (unsigned)(cqe->user_data & 0xffffffffu);
      int d = (int)(s / READS_PER_DEV);
      struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
      if (!(cqe->user_data & OP_WRITE) && cqe->res > 0) {
        io_uring_prep_write(sqe, fd[1 - d], bufs[s], (unsigned)cqe->res, (uint64_t)-1);
        sqe->user_data = s | OP_WRITE;
        continue;
      }
      if (cqe->user_data & OP_WRITE) {
        if (cqe->res > 0)
          forwarded[d]++;
        else
          errors++;
      } else if (cqe->res != -EAGAIN && cqe->res != -EINTR) {
        errors++;
      }
      io_uring_prep_read(sqe, fd[d], bufs[s], SLOT_SIZE, (uint64_t)-1);
      sqe->user_data = s;
    }
    io_uring_cq_advance(&ring, seen);
  }
  io_uring_queue_exit(&ring);
}

int main(int argc, char **argv) {
  const char *mode = "uring";
  const char *names[2] = {NULL, NULL};
  int seconds = 0, quiet = 0, n = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mode") && i + 1 < argc)
      mode = argv[++i];
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--quiet"))
      quiet = 1;
    else if (argv[i][0] != '-' && n < 2)
      names[n++] = argv[i];
    else
      n = 3;
  }
  if (n != 2 || (strcmp(mode, "rw") && strcmp(mode, "uring"))) {
    fprintf(stderr, "usage: tunfwd [--mode rw|uring] [--seconds N] [--quiet] DEV_A DEV_B\n");
    return 2;
  }
  int fd[2] = {open_tun(names[0]), open_tun(names[1])};

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: blocking calls return EINTR */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  if (seconds > 0) alarm((unsigned)seconds);

  double t0 = now_s();
  if (!strcmp(mode, "rw"))
    run_rw(fd);
  else
    run_uring(fd);
  double dt = now_s() - t0;

  if (!quiet)
    printf("tunfwd mode=%s a_to_b=%llu b_to_a=%llu errors=%llu seconds=%.3f pps=%.0f\n", mode,
           (unsigned long long)forwarded[0], (unsigned long long)forwarded[1],
           (unsigned long long)errors, dt, (double)(forwarded[0] + forwarded[1]) / dt);
  close(fd[0]);
  close(fd[1]);
  return 0;
}
