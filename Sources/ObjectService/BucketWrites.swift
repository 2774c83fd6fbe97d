import Synchronization

/// The writes in flight into each bucket, so that what must not interleave with them can wait for them:
/// - DeleteBucket closes the bucket to new writes, waits for those in flight, and only then checks that it is empty
///   and purges it. Without this a PUT that had resolved the bucket could commit after the purge: an object that
///   outlives its bucket, seen (and not deletable) by the next owner of the name.
/// - A key retirement waits for the writes that started before its check (they may hold a key under the version it
///   retires) without holding off new ones (``drain(_:timeoutMillis:)``).
final class BucketWrites: Sendable {
    private struct Entry {
        /// The admitted writes, by admission ticket.
        var tickets = Set<UInt64>()
        var closed = false
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var nextTicket: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Admits one write into `bucket`: nil while the bucket is being deleted. The caller checks, after admission,
    /// that the bucket it resolved still exists (a deletion may have finished in between).
    func admit(_ bucket: String) -> WriteLease? {
        let ticket = state.withLock { state -> UInt64? in
            var entry = state.entries[bucket] ?? Entry()
            guard !entry.closed else { return nil }
            let ticket = state.nextTicket
            state.nextTicket += 1
            entry.tickets.insert(ticket)
            state.entries[bucket] = entry
            return ticket
        }
        return ticket.map { WriteLease(writes: self, bucket: bucket, ticket: $0) }
    }

    fileprivate func release(_ bucket: String, ticket: UInt64) {
        state.withLock { state in
            guard var entry = state.entries[bucket] else { return }
            entry.tickets.remove(ticket)
            state.entries[bucket] = entry.tickets.isEmpty && !entry.closed ? nil : entry
        }
    }

    /// Closes `bucket` to new writes and waits (up to `timeoutMillis`) for those in flight to end. False when it was
    /// already closed (another deletion runs) or the writes did not end in time; the bucket is then open again
    /// (unless another deletion holds it).
    func close(_ bucket: String, timeoutMillis: Int = 30_000) async -> Bool {
        let closed = state.withLock { state -> Bool in
            var entry = state.entries[bucket] ?? Entry()
            guard !entry.closed else { return false }
            entry.closed = true
            state.entries[bucket] = entry
            return true
        }
        guard closed else { return false }
        guard await wait(timeoutMillis, until: { $0.entries[bucket]?.tickets.isEmpty ?? true }) else {
            reopen(bucket)
            return false
        }
        return true
    }

    /// Opens `bucket` to writes again (its deletion ended, done or not).
    func reopen(_ bucket: String) {
        state.withLock { state in
            guard var entry = state.entries[bucket] else { return }
            entry.closed = false
            state.entries[bucket] = entry.tickets.isEmpty ? nil : entry
        }
    }

    /// Waits (up to `timeoutMillis`) until every write admitted into `buckets` before this call has ended; writes
    /// admitted meanwhile are not waited for. False when some did not end in time.
    func drain(_ buckets: [String], timeoutMillis: Int = 30_000) async -> Bool {
        let before = state.withLock { $0.nextTicket }
        return await wait(timeoutMillis) { state in
            buckets.allSatisfy { bucket in !(state.entries[bucket]?.tickets.contains { $0 < before } ?? false) }
        }
    }

    private func wait(_ timeoutMillis: Int, until done: (State) -> Bool) async -> Bool {
        var waitedMillis = 0
        while !state.withLock({ done($0) }) {
            guard waitedMillis < timeoutMillis else { return false }
            try? await Task.sleep(for: .milliseconds(10))
            waitedMillis += 10
        }
        return true
    }
}

/// One admitted write: released when it ends, or at the latest when the lease goes away.
final class WriteLease: Sendable {
    private let writes: BucketWrites
    private let bucket: String
    private let ticket: UInt64
    private let released = Atomic<Bool>(false)

    fileprivate init(writes: BucketWrites, bucket: String, ticket: UInt64) {
        self.writes = writes
        self.bucket = bucket
        self.ticket = ticket
    }

    func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        writes.release(bucket, ticket: ticket)
    }

    deinit { release() }
}
