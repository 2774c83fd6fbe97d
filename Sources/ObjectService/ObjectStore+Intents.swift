import Metrics
import ObjectModel
import StorageNode

/// The index intents of the object replicas (``IndexIntent``): each client write or permanent deletion leaves one in
/// the same durable commit as the manifest it changes, and the listing index is told beside it. Every gateway's
/// ``IntentDrain`` delivers the intents again once they are a few seconds old
/// (``drainIntents(_:olderThanMillis:resuming:pagesMax:)``) and clears them, so that what the live edit missed is
/// listed within seconds.
extension ObjectStore {
    /// Delivers to the listing index the intents committed at least `olderThanMillis` ago on the available nodes of
    /// `jurisdiction`, page by page from `resuming` (a node's position where the previous round stopped) and at
    /// most `pagesMax` pages a node; each page is cleared once delivered, but the intents that could not be, which
    /// stay in place for the next round. A written version is merged into its bucket's index (taken when one index
    /// replica took it, as a write is; a no-op when the live edit took it), once a round however many replicas hold
    /// it; for a deleted one, if an index replica still shows that version, the entry is set back to what every node
    /// holds newest (which needs every node to answer).
    ///
    /// A page is delivered within half the age of its intents after it was read, and what is left then waits for the
    /// next round: a written version the node held at the read is merged before any deletion of it since (committed
    /// after the read, with its own intent) is old enough for a drain to follow it, so that drain sets the entry back.
    @discardableResult
    func drainIntents(_ jurisdiction: Jurisdiction, olderThanMillis: Int64, resuming: [NodeID: [UInt8]] = [:],
                      pagesMax: Int = .max) async -> IntentTally
    {
        var tally = IntentTally()
        var delivered = Set<IntentIdentity>()
        for node in (try? all(jurisdiction)) ?? [] where node.isLikelyAvailable {
            var from = resuming[node.nodeID] ?? []
            for _ in 0..<pagesMax {
                let window = olderThanMillis > 0 ? ContinuousClock.now + .milliseconds(olderThanMillis / 2) : nil
                let page: IntentPage
                do {
                    page = try await node.indexIntents(jurisdiction, from: from, olderThanMillis: olderThanMillis,
                                                       limit: Limits.listBatchPerNode)
                } catch {
                    tally.failed += 1
                    break
                }
                guard let end = page.end else {
                    from = []  // nothing left to read from here: the next round starts at the queue's head
                    break
                }
                let undelivered = await deliver(page.intents, jurisdiction: jurisdiction, before: window,
                                                delivered: &delivered)
                tally.delivered += page.intents.count - undelivered.count
                tally.failed += undelivered.count
                do {
                    _ = try await node.apply(.clearIntents(jurisdiction, from: from, through: end,
                                                           keeping: undelivered.map(\.position)))
                } catch {
                    tally.failed += 1
                    break
                }
                from = end
                guard page.more else {
                    from = []
                    break
                }
            }
            if !from.isEmpty { tally.resume[node.nodeID] = from }
        }
        let dimensions = [("jurisdiction", jurisdiction.code)]
        Counter(label: "qantara_index_intents_delivered_total", dimensions: dimensions).increment(by: tally.delivered)
        if tally.failed > 0 {
            Counter(label: "qantara_index_intents_failed_total", dimensions: dimensions).increment(by: tally.failed)
            logger.warning("index intents could not all be delivered; the next drain tries again", metadata: [
                "jurisdiction": "\(jurisdiction)", "failed": "\(tally.failed)"])
        }
        return tally
    }

    /// Delivers `intents` before `deadline` (nil: none); returns those the index did not take.
    private func deliver(_ intents: [IndexIntent], jurisdiction: Jurisdiction, before deadline: ContinuousClock.Instant?,
                         delivered: inout Set<IntentIdentity>) async -> [IndexIntent] {
        func late() -> Bool { deadline.map { ContinuousClock.now >= $0 } ?? false }
        var undelivered = [IndexIntent]()
        // A written version is merged once a round; a deletion is followed each time (a later retry of it, on a
        // replica that missed the first, may come after a merge of the version read before it).
        let fresh = intents.filter { $0.kind == .deleted || !delivered.contains(IntentIdentity($0)) }
        let written = Dictionary(grouping: fresh.filter { $0.kind == .written }, by: \.bucket)
        for (bucket, intents) in written {
            let replicas = indexReplicas(jurisdiction, bucket: bucket)
            var offset = 0
            for edits in IndexEdit.batched(intents.map { .merge($0.entry!) }) {
                let slice = intents[offset..<(offset + edits.count)]
                offset += edits.count
                guard !late(), await commit(.index(jurisdiction, edits), on: replicas).count < replicas.count else {
                    undelivered += slice
                    continue
                }
                for intent in slice { delivered.insert(IntentIdentity(intent)) }
            }
        }
        for intent in fresh where intent.kind == .deleted {
            // After one failure (a node or an index replica that does not answer), the rest wait for the next round.
            guard undelivered.allSatisfy({ $0.kind == .written }), !late() else {
                undelivered.append(intent)
                continue
            }
            do {
                if try await indexShows(intent.mark, bucket: intent.bucket, key: intent.key,
                                        jurisdiction: jurisdiction) {
                    try await reindex(afterDeleting: intent.mark, bucket: intent.bucket, key: intent.key,
                                      jurisdiction: jurisdiction)
                }
            } catch {
                undelivered.append(intent)
            }
        }
        return undelivered
    }

    /// Whether an index replica of `bucket` shows the version `mark` as the entry of `key` (R reads; throws when one
    /// does not answer).
    private func indexShows(_ mark: VersionMark, bucket: String, key: String, jurisdiction: Jurisdiction)
        async throws -> Bool
    {
        let name = Array(key.utf8)
        for replica in indexReplicas(jurisdiction, bucket: bucket) {
            let entries = try await replica.list(jurisdiction, bucket: bucket, prefix: name, from: name, limit: 1,
                                                 space: .index)
            if let entry = entries.first, entry.key == key, VersionMark(entry) == mark { return true }
        }
        return false
    }
}

/// One version an intent names, whichever replica holds the intent: a written one is merged once a round.
private struct IntentIdentity: Hashable {
    let bucket: String
    let key: String
    let version: VersionID

    init(_ intent: IndexIntent) { (bucket, key, version) = (intent.bucket, intent.key, intent.mark.version) }
}

/// What a drain of index intents did.
struct IntentTally: Sendable, Equatable {
    /// Intents delivered (a written version merged, or merged from another replica in the same round; a deletion
    /// followed or found already followed).
    var delivered = 0
    /// Intents left for the next round, and nodes whose intents could not be read or cleared.
    var failed = 0
    /// Where the next round goes on, for the nodes whose round stopped at its page limit.
    var resume = [NodeID: [UInt8]]()
}
