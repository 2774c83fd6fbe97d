import CGlibc

/// glibc allocator settings for the long-running server processes (`serve`, `gateway`, `node`).
///
/// Every GET of a large segment allocates MiB-sized buffers (RocksDB's blob read buffers, the decrypted segment).
/// By default glibc serves those with fresh `mmap`s, or trims them from its heaps as soon as they are freed, so each
/// request touches new pages (page faults, zeroing) at about 1 GB/s where reused pages run at 16 GB/s. Keeping
/// allocations below 4 MiB in the heaps and trimming a heap only past 32 MiB free lets them be reused; four arenas
/// instead of eight per core bound what the heaps keep, and lowered the peak RSS under a 1 MiB GET load. At an 8 MiB
/// trim threshold, 16 concurrent 1 MiB GETs still trimmed and refaulted about 16,000 pages a second (9% of the
/// server's CPU); at 32 MiB, 150 a second, with the same peak RSS (measured in Docs/benchmarks.md).
enum MemoryTuning {
    static func apply() {
        _ = mallopt(M_ARENA_MAX, 4)
        _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 32 << 20)
    }
}
