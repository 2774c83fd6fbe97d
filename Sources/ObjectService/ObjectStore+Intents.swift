import Metrics
import ObjectModel
import StorageNode

/// The index intents of the object replicas (``IndexIntent``): each client write or permanent deletion leaves one in
/// the same durable commit as the manifest it changes, and the listing index is told beside it. Every gateway's
/// ``IntentDrain`` delivers the intents again once they are a few seconds old (``drainIntents(_:olderThanMillis:)``)
/// and clears them, so that what the live edit missed is listed within seconds.
extension ObjectStore {
    /// Delivers to the listing index every intent committed at least `olderThanMillis` ago on the available nodes
    /// of `jurisdiction`, page by page, each page cleared once delivered (those that could not be are recorded again,
    /// for the next drain). A written version is merged into its bucket's index (taken when one index replica took
    /// it, as a write is: a no-op when the live edit took it); for a deleted one, if an index replica still shows that
    /// version, the entry is set back to what every node holds newest (which needs every node to answer).
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
                guard let end = page.end else { break }
                let undelivered = await deliver(page.intents, jurisdiction: jurisdiction)
                tally.delivered += page.intents.count - undelivered.count
                tally.failed += undelivered.count
                do {
                    _ = try await node.apply(.clearIntents(jurisdiction, through: end, retry: undelivered))
                } catch {
                    tally.failed += 1
                    break
                }
                guard page.more else { break }
                from = end
            }
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

    /// Delivers `intents`; returns those the index did not take.
    private func deliver(_ intents: [IndexIntent], jurisdiction: Jurisdiction) async -> [IndexIntent] {
        var undelivered = [IndexIntent]()
        let written = Dictionary(grouping: intents.filter { $0.kind == .written }, by: \.bucket)
        for (bucket, intents) in written {
            let replicas = indexReplicas(jurisdiction, bucket: bucket)
            var offset = 0
            for edits in IndexEdit.batched(intents.map { .merge($0.entry!) }) {
                let slice = intents[offset..<(offset + edits.count)]
                offset += edits.count
                let failed = await commit(.index(jurisdiction, edits), on: replicas)
                if failed.count == replicas.count { undelivered += slice }
            }
        }
        for intent in intents where intent.kind == .deleted {
            do {
                guard try await indexShows(intent.mark, bucket: intent.bucket, key: intent.key,
                                           jurisdiction: jurisdiction) else { continue }
                try await reindex(afterDeleting: intent.mark, bucket: intent.bucket, key: intent.key,
                                  jurisdiction: jurisdiction)
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

/// What a drain of index intents did.
struct IntentTally: Sendable, Equatable {
    /// Intents delivered (a written version merged, a deletion followed or found already followed).
    var delivered = 0
    /// Intents left for the next drain, and nodes whose intents could not be read or cleared.
    var failed = 0
}
