import Foundation
import NIOConcurrencyHelpers
import ObjectModel
import StorageEngine

/// Applies a node's commits in groups, on a thread of its own.
///
/// A caller queues its change with a callback; the thread takes everything queued, applies it with one synced write
/// (``NodeStore/apply(_:)``) and calls each change's callback. While the thread waits for the disk, the next group gathers.
/// Against a thread-pool job per commit, each left to RocksDB's own write groups, this saves each small PUT a
/// thread hop and the wake-ups of RocksDB's group leader and followers per replica, and the memtable takes each
/// group's keys from one thread.
final class GroupCommitter: @unchecked Sendable {
    /// Called once with a change's outcome, on the commit thread.
    typealias Waiter = @Sendable (Result<CommitOutcome, any Error>) -> Void

    private let store: NodeStore
    /// Guards `queue` and `stopping`; its value is true while there is something for the thread to do.
    private let signal = ConditionLock(value: false)
    private var queue: [(change: NodeChange, waiter: Waiter)] = []
    private var stopping = false
    /// Becomes true when the thread has returned.
    private let exited = ConditionLock(value: false)

    init(store: NodeStore) {
        self.store = store
        let thread = Thread { [self] in run() }
        thread.name = "commit-\(store.node)"
        thread.start()
    }

    /// Queues `change` for the next group; `waiter` gets its outcome once the group is durable
    /// (``NodeError/unavailable(_:)`` once the committer stopped).
    func enqueue(_ change: NodeChange, _ waiter: @escaping Waiter) {
        signal.lock()
        guard !stopping else {
            signal.unlock()
            waiter(.failure(NodeError.unavailable(store.node)))
            return
        }
        queue.append((change, waiter))
        signal.unlock(withValue: true)
    }

    /// Applies what is queued, then stops the thread and waits for it. Later commits fail.
    func stop() {
        signal.lock()
        stopping = true
        signal.unlock(withValue: true)
        exited.lock(whenValue: true)
        exited.unlock()
    }

    private func run() {
        var group: [(change: NodeChange, waiter: Waiter)] = []
        while true {
            signal.lock(whenValue: true)
            swap(&group, &queue)
            let stop = stopping
            signal.unlock(withValue: false)
            if !group.isEmpty {
                let outcomes = store.apply(group.map(\.change))
                for (entry, outcome) in zip(group, outcomes) {
                    entry.waiter(outcome.mapError { NodeError.mapping($0, node: store.node) })
                }
                group.removeAll(keepingCapacity: true)
            }
            if stop { break }
        }
        exited.lock()
        exited.unlock(withValue: true)
    }
}

extension NodeError {
    /// The node error a caller sees for an error of the node's engine (other errors pass through).
    static func mapping(_ error: any Error, node: NodeID) -> any Error {
        switch error {
        case StorageEngineError.closed: return NodeError.unavailable(node)
        case let error as StorageEngineError: return NodeError.io("storage node \(node): \(error)")
        default: return error
        }
    }
}
