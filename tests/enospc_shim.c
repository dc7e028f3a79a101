// A disk that fills up, for tests/test_faults.py where no tmpfs can be mounted: loaded with
// LD_PRELOAD, it lets writes to files under $SPECSWEEP_TEST_DISK_DIR use up
// $SPECSWEEP_TEST_DISK_BYTES bytes in all, then fails them with ENOSPC, as a full disk does.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long budget = -1;  // bytes left; -1: not configured yet
static const char* dir = NULL;

static int on_the_disk(int fd) {
  if (!dir) {
    dir = getenv("SPECSWEEP_TEST_DISK_DIR");
    const char* bytes = getenv("SPECSWEEP_TEST_DISK_BYTES");
    budget = bytes ? atoll(bytes) : LLONG_MAX;
    if (!dir) dir = "";
  }
  if (!*dir) return 0;
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  const size_t len = strlen(dir);
  return strncmp(target, dir, len) == 0 && target[len] == '/';
}

// 0 when `count` bytes fit, else -1 with errno ENOSPC.
static int take(int fd, size_t count) {
  if (!on_the_disk(fd)) return 0;
  if ((long long)count > budget) {
    budget = 0;
    errno = ENOSPC;
    return -1;
  }
  budget -= (long long)count;
  return 0;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void* buf, size_t count) {
  if (take(fd, count) != 0) return -1;
  return REAL("write", ssize_t (*)(int, const void*, size_t))(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  if (take(fd, count) != 0) return -1;
  return REAL("pwrite", ssize_t (*)(int, const void*, size_t, off_t))(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  if (take(fd, count) != 0) return -1;
  return REAL("pwrite64", ssize_t (*)(int, const void*, size_t, off_t))(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  size_t count = 0;
  for (int i = 0; i < n; ++i) count += iov[i].iov_len;
  if (take(fd, count) != 0) return -1;
  return REAL("writev", ssize_t (*)(int, const struct iovec*, int))(fd, iov, n);
}
