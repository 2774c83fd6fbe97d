import Metrics
import ObjectModel
import StorageNode
import Synchronization

/// The index intents of the object replicas (``IndexIntent``): each client write or permanent deletion leaves one in
/// the same durable commit as the manifest it changes; the listing index is told beside it, and once it took the
/// change the intents are cleared, in batches after the acknowledgement. An intent left behind (the index did not take
/// it, the gateway crashed) is delivered by ``drainIntents(_:olderThanMillis:)``, which every gateway runs every few
/// seconds (``IntentDrain``).
extension ObjectStore {
    /// Queues the clearing of `references` on `nodes` (the listing index took their changes); a node's batch is sent
    /// once it is full, the rest by ``flushIntentClears()``. A clear that never arrives costs a redelivery only.
    func indexed(_ references: [IntentReference], on nodes: [any StorageNodeClient]) {
        for batch in intentClears.add(references, on: nodes) { Task { await self.send(batch) } }
    }

    /// Sends every queued clear.
    func flushIntentClears() async {
        let batches = intentClears.takeAll()
        await withTaskGroup(of: Void.self) { group in
            for batch in batches { group.addTask { await self.send(batch) } }
        }
    }

    private func send(_ batch: IntentClears.Batch) async {
        _ = try? await batch.node.apply(.clearIntents(batch.node.jurisdiction, batch.references))
    }

    /// Delivers to the listing index every intent committed at least `olderThanMillis` ago on the available nodes
    /// of `jurisdiction`, and clears those delivered (and those of versions the node no longer holds). A written
    /// version is merged into its bucket's index (taken when one index replica took it, as a write is); a deleted one
    /// sets the entry back to what every node holds newest (which needs every node to answer, or it waits).
    @discardableResult
    func drainIntents(_ jurisdiction: Jurisdiction, olderThanMillis: Int64) async -> IntentTally {
        var tally = IntentTally()
        for node in (try? all(jurisdiction)) ?? [] where node.isLikelyAvailable {
            var from = [UInt8]()
            while true {
                let page: IntentPage
                do {
                    page = try await node.indexIntents(jurisdiction, from: from, olderThanMillis: olderThanMillis,
                                                       limit: Limits.listBatchPerNode)
                } catch {
                    tally.failed += 1
                    break
                }
                let delivered = await deliver(page.intents, jurisdiction: jurisdiction)
                tally.delivered += delivered.count
                tally.failed += page.intents.count - delivered.count
                tally.gone += page.gone.count
                let done = delivered + page.gone
                if !done.isEmpty, (try? await node.apply(.clearIntents(jurisdiction, done))) == nil { tally.failed += 1 }
                guard let next = page.next else { break }
                from = next
            }
        }
        let dimensions = [("jurisdiction", jurisdiction.code)]
        Counter(label: "qantara_index_intents_delivered_total", dimensions: dimensions).increment(by: tally.delivered)
        if tally.failed > 0 {
            logger.warning("index intents could not all be delivered; the next drain tries again", metadata: [
                "jurisdiction": "\(jurisdiction)", "failed": "\(tally.failed)"])
        }
        return tally
    }

    /// Delivers `intents`; returns the references of those the index took.
    private func deliver(_ intents: [IndexIntent], jurisdiction: Jurisdiction) async -> [IntentReference] {
        var done = [IntentReference]()
        let written = Dictionary(grouping: intents.filter { $0.kind == .written }, by: \.bucket)
        for (bucket, intents) in written {
            let replicas = indexReplicas(jurisdiction, bucket: bucket)
            var offset = 0
            for edits in IndexEdit.batched(intents.map { .merge($0.entry!) }) {
                let slice = intents[offset..<(offset + edits.count)]
                offset += edits.count
                let failed = await commit(.index(jurisdiction, edits), on: replicas)
                if failed.count < replicas.count { done += slice.map(\.reference) }
            }
        }
        for intent in intents where intent.kind == .deleted {
            do {
                try await reindex(afterDeleting: intent.mark, bucket: intent.bucket, key: intent.key,
                                  jurisdiction: jurisdiction)
                done.append(intent.reference)
            } catch {
                continue
            }
        }
        return done
    }
}

/// What a drain of index intents did.
struct IntentTally: Sendable, Equatable {
    /// Intents the index took.
    var delivered = 0
    /// Written intents of versions their node no longer held, cleared.
    var gone = 0
    /// Intents (or nodes, or clears) that failed, left for the next drain.
    var failed = 0
}

/// Clears of index intents waiting to be sent, per node.
final class IntentClears: Sendable {
    struct Batch: Sendable {
        let node: any StorageNodeClient
        let references: [IntentReference]
    }

    private struct Pending {
        var node: any StorageNodeClient
        var references: [IntentReference]
    }

    private let pending = Mutex<[NodeID: Pending]>([:])
    /// How many clears a node's batch holds before it is sent without waiting for the flush.
    static let batchSize = 512

    /// Queues `references` on each of `nodes`; returns the batches that are full.
    func add(_ references: [IntentReference], on nodes: [any StorageNodeClient]) -> [Batch] {
        pending.withLock { pending in
            var full = [Batch]()
            for node in nodes {
                var entry = pending[node.nodeID] ?? Pending(node: node, references: [])
                entry.references += references
                if entry.references.count >= Self.batchSize {
                    full.append(Batch(node: node, references: entry.references))
                    pending[node.nodeID] = nil
                } else {
                    pending[node.nodeID] = entry
                }
            }
            return full
        }
    }

    /// Takes every queued clear.
    func takeAll() -> [Batch] {
        pending.withLock { pending in
            defer { pending = [:] }
            return pending.values.map { Batch(node: $0.node, references: $0.references) }
        }
    }
}
