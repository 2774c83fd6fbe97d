import ObjectModel
import Placement
import StorageNode

/// Anti-entropy by summaries: a rebalance pass asks each node for its summary of a bucket (``BucketSummary``: per
/// peer and key partition, a sum of what it holds that placement gives to both) and reads only what they disagree on.
/// Two nodes agree on their shared keys when each one's sums for the other are equal; a partition where they are not
/// is listed on both and each version there is placed (copied where a preferred replica lacks it). The partitions
/// where a node holds versions placement does not give it (a placement change, a substitute's copies) or tombstones
/// old enough to be collected are walked on it too. The listing index is compared the same way: the sums of the
/// keys' current versions, each counted on its first preferred replica, against each index replica's sums of its
/// entries. What nodes agree on is not read beyond their summaries, so a quiet jurisdiction's pass costs one local read
/// per node and bucket, and no version travels.
extension RebalancePass {
    /// What a node needs to summarise `bucket` by the pass's topology. The latest writes are left out of the sums
    /// (``RebalancePace/summarySettleMillis``) unless a placement change awaits this pass, whose clean end is
    /// recorded as every object placed and every index complete.
    func plan(_ bucket: String) -> SummaryPlan {
        let nodes = placement.entry(jurisdiction)?.nodes ?? []
        let now = store.clock.nowMillis()
        let settled = placement.usesListingIndex(jurisdiction)
        return SummaryPlan(active: nodes.filter { !$0.isDraining }.map(\.id), draining: nodes.filter(\.isDraining).map(\.id),
                           replicas: placement.replicas(of: jurisdiction),
                           indexReplicas: placement.indexReplicas(jurisdiction, bucket: bucket),
                           tombstonesBefore: now - pace.tombstoneGraceMillis,
                           summedBefore: settled && pace.summarySettleMillis > 0 ? now - pace.summarySettleMillis : nil)
    }

    /// Brings `bucket` on `nodes` (the jurisdiction's nodes that answer) and its listing index in line with
    /// placement, reading only what the nodes' summaries disagree on.
    mutating func sweep(_ bucket: String, nodes: [any StorageNodeClient]) async {
        let plan = plan(bucket)
        var summaries = [NodeID: BucketSummary]()
        // A node that cannot summarise (an older one) is walked whole, and the whole index compared.
        var unsummarised = [any StorageNodeClient]()
        for (node, answer) in await summarize(bucket, on: nodes, plan: plan) {
            switch answer {
            case .success(let summary):
                summaries[node.nodeID] = summary
            case .failure(let error) where (error as? NodeError)?.isTransient == true:
                tally.failed += 1
            case .failure(let error):
                store.logger.notice("a node did not summarise a bucket; the pass walks it whole", metadata: [
                    "node": "\(node.nodeID)", "bucket": "\(bucket)", "error": "\(error)"])
                unsummarised.append(node)
            }
        }
        let versioned = store.policy(bucket).versioning != nil
        // Partitions where two nodes disagree are read on both.
        var walks = [NodeID: KeyPartitions]()
        for (id, summary) in summaries {
            for (peer, sums) in summary.shared {
                // A node that does not answer was counted as a failure: nothing can be copied to it this pass.
                guard let other = summaries[peer] else { continue }
                let differing = sums.differing(other.shared[id] ?? PartitionSums())
                walks[id, default: KeyPartitions()].formUnion(differing)
                walks[peer, default: KeyPartitions()].formUnion(differing)
            }
            walks[id, default: KeyPartitions()].formUnion(summary.misplacedPartitions)
            if !versioned { walks[id, default: KeyPartitions()].formUnion(summary.collectablePartitions) }
        }
        let copiedBefore = tally.copied
        var walked = KeyPartitions()
        for node in nodes {
            guard !Task.isCancelled, !stale else { return }
            if unsummarised.contains(where: { $0.nodeID == node.nodeID }) {
                await walk(node, bucket: bucket, partitions: .all)
                await clearIndex(node, bucket: bucket)
                continue
            }
            guard let summary = summaries[node.nodeID] else { continue }
            let partitions = walks[node.nodeID] ?? KeyPartitions()
            tally.summarized += summary.versions
            if !partitions.isEmpty {
                walked.formUnion(partitions)
                await walk(node, bucket: bucket, partitions: partitions)
            }
            if summary.strayIndexEntries > 0 { await clearIndex(node, bucket: bucket) }
            progress(tally)
        }
        guard !Task.isCancelled, !stale else { return }
        // The index needs every node's current versions: without them the pass has failed already.
        guard summaries.count + unsummarised.count == (try? store.all(jurisdiction))?.count else { return }
        if !unsummarised.isEmpty { return await reconcileIndex(bucket, partitions: .all) }
        // The index against the keys' current versions, each counted once (on its first preferred replica); and,
        // when versions were just copied, wherever they may have been, since summaries were read before.
        var current = PartitionSums()
        for summary in summaries.values { current.add(summary.primary) }
        var suspect = tally.copied > copiedBefore ? walked : KeyPartitions()
        for id in indexNodes(bucket) {
            guard let entries = summaries[id]?.index else {
                tally.failed += 1
                return
            }
            suspect.formUnion(entries.differing(current))
        }
        if !suspect.isEmpty { await reconcileIndex(bucket, partitions: suspect) }
    }

    /// Every node's summary of `bucket`, asked of all at once (each is one local read on its node).
    private func summarize(_ bucket: String, on nodes: [any StorageNodeClient], plan: SummaryPlan) async
        -> [(any StorageNodeClient, Result<BucketSummary, any Error>)]
    {
        // A named struct, not a tuple, as the child tasks' result: Swift 6.3.1's optimiser hands back wrong
        // integers from tuple results of task groups (`../shared/SWIFT-NOTES.md`).
        struct Answer: Sendable {
            let position: Int
            let summary: Result<BucketSummary, any Error>
        }
        let jurisdiction = jurisdiction
        return await withTaskGroup(of: Answer.self) { group in
            for (position, node) in nodes.enumerated() {
                group.addTask {
                    do {
                        return Answer(position: position,
                                      summary: .success(try await node.summarize(jurisdiction, bucket: bucket, plan: plan)))
                    } catch {
                        return Answer(position: position, summary: .failure(error))
                    }
                }
            }
            var answers = [Answer]()
            for await answer in group { answers.append(answer) }
            return answers.sorted { $0.position < $1.position }.map { (nodes[$0.position], $0.summary) }
        }
    }
}
