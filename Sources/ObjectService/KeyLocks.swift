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
