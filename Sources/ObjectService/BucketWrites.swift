import Synchronization

/// The writes in flight into each bucket, so that DeleteBucket and writes cannot interleave: a deletion first closes
/// the bucket to new writes, waits for those in flight, and only then checks that it is empty and purges it. Without
/// this a PUT that had resolved the bucket could commit after the purge: an object that outlives its bucket, seen
/// (and not deletable) by the next owner of the name.
final class BucketWrites: Sendable {
    private struct Entry {
        var writers = 0
        var closed = false
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// Admits one write into `bucket`: nil while the bucket is being deleted. The caller checks, after admission,
    /// that the bucket it resolved still exists (a deletion may have finished in between).
    func admit(_ bucket: String) -> WriteLease? {
        let admitted = entries.withLock { entries -> Bool in
            var entry = entries[bucket] ?? Entry()
            guard !entry.closed else { return false }
            entry.writers += 1
            entries[bucket] = entry
            return true
        }
        return admitted ? WriteLease(writes: self, bucket: bucket) : nil
    }

    fileprivate func release(_ bucket: String) {
        entries.withLock { entries in
            guard var entry = entries[bucket] else { return }
            entry.writers -= 1
            if entry.writers == 0 && !entry.closed {
                entries[bucket] = nil
            } else {
                entries[bucket] = entry
            }
        }
    }

    /// Closes `bucket` to new writes and waits (up to `timeoutMillis`) for those in flight to end. False when it was
    /// already closed (another deletion runs) or the writes did not end in time; the bucket is then open again
    /// (unless another deletion holds it).
    func close(_ bucket: String, timeoutMillis: Int = 30_000) async -> Bool {
        let closed = entries.withLock { entries -> Bool in
            var entry = entries[bucket] ?? Entry()
            guard !entry.closed else { return false }
            entry.closed = true
            entries[bucket] = entry
            return true
        }
        guard closed else { return false }
        var waitedMillis = 0
        while entries.withLock({ $0[bucket]?.writers ?? 0 }) > 0 {
            guard waitedMillis < timeoutMillis else {
                reopen(bucket)
                return false
            }
            try? await Task.sleep(for: .milliseconds(10))
            waitedMillis += 10
        }
        return true
    }

    /// Opens `bucket` to writes again (its deletion ended, done or not).
    func reopen(_ bucket: String) {
        entries.withLock { entries in
            guard var entry = entries[bucket] else { return }
            entry.closed = false
            entries[bucket] = entry.writers == 0 ? nil : entry
        }
    }
}

/// One admitted write: released when it ends, or at the latest when the lease goes away.
final class WriteLease: Sendable {
    private let writes: BucketWrites
    private let bucket: String
    private let released = Atomic<Bool>(false)

    fileprivate init(writes: BucketWrites, bucket: String) {
        self.writes = writes
        self.bucket = bucket
    }

    func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        writes.release(bucket)
    }

    deinit { release() }
}
