import Synchronization

/// Per-key mutual exclusion for async code: conditional writes of one key through this gateway run one at a time.
actor KeyLocks {
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Waits until `key` is free, then holds it.
    func lock(_ key: String) async {
        if waiters[key] == nil {
            waiters[key] = []
            return
        }
        await withCheckedContinuation { waiters[key]!.append($0) }
    }

    /// Releases `key`, handing it to the next waiter if any.
    func unlock(_ key: String) {
        guard var queue = waiters[key] else { preconditionFailure("unlock of a key not held") }
        if queue.isEmpty {
            waiters[key] = nil
        } else {
            let next = queue.removeFirst()
            waiters[key] = queue
            next.resume()
        }
    }
}

/// Conflicts between a conditional write and the plain writes and deletes of its key through this gateway: a
/// conditional write whose check could have missed a plain write (one in flight when its check began, or one begun
/// while it was between its check and its commit) fails with `ConditionalRequestConflict` (409), as S3 answers, rather
/// than committing over a version its condition never saw. The plain writes pay one short lock at their start and one
/// at their end.
final class ConditionalWindows: Sendable {
    private struct State {
        /// Plain writes and deletes committing now, by key (bytes: canonically equivalent keys are different keys).
        var inFlight: [[UInt8]: Int] = [:]
        /// Conditional writes between their check and their commit, and whether a plain write conflicted.
        var windows: [[UInt8]: Bool] = [:]
    }

    private let state = Mutex(State())

    static func key(_ bucket: String, _ key: String) -> [UInt8] { Array(bucket.utf8) + [0] + Array(key.utf8) }

    /// A plain write or delete of `key` starts (before it takes its sequence number).
    func beginPlainWrite(_ key: [UInt8]) {
        state.withLock { state in
            state.inFlight[key, default: 0] += 1
            if state.windows[key] != nil { state.windows[key] = true }
        }
    }

    /// The plain write or delete of `key` has committed or failed.
    func endPlainWrite(_ key: [UInt8]) {
        state.withLock { state in
            let left = state.inFlight[key, default: 1] - 1
            state.inFlight[key] = left > 0 ? left : nil
        }
    }

    /// Opens the window of a conditional write, before its check (one per key at a time: held under the key's lock).
    func openWindow(_ key: [UInt8]) {
        state.withLock { state in
            precondition(state.windows[key] == nil, "one conditional write per key at a time")
            state.windows[key] = state.inFlight[key] != nil
        }
    }

    /// Closes the window once the conditional write has its sequence number; true when it conflicted.
    func closeWindow(_ key: [UInt8]) -> Bool {
        state.withLock { $0.windows.removeValue(forKey: key) ?? false }
    }
}
