/* What Swift's Glibc module does not show: the allocator's controls (mallopt) and preadv2 with RWF_NOWAIT. */
#include <malloc.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);

/* Reads only what the page cache holds: fails with EAGAIN (or reads short) rather than wait for the disk. */
static inline ssize_t qantara_pread_cached(int fd, void *buffer, size_t length, off_t offset) {
    struct iovec vector = { buffer, length };
    return preadv2(fd, &vector, 1, offset, RWF_NOWAIT);
}
