import ObjectModel

/// The storage layout of a deployment: which jurisdictions exist, which nodes serve each, and how many replicas
/// each object gets. Loaded from an operator-edited file (`Deploy/topology.dev.json`) and validated at start.
public struct Topology: Sendable, Codable, Equatable {
    /// One jurisdiction and its nodes.
    public struct JurisdictionEntry: Sendable, Codable, Equatable {
        public var code: Jurisdiction
        /// Region names (`LocationConstraint` values such as `eu-west-3`) that map to this jurisdiction.
        public var regions: [String]
        public var nodes: [NodeEntry]
        /// Cipher of new objects in this jurisdiction: `aes-256-gcm` (default) or `xchacha20-poly1305`.
        public var cipher: String?
        /// `host:port` of the jurisdiction's key store in its own process (`qantara keystore`); nil: embedded.
        public var keyStore: String?
        /// Replicas per object in this jurisdiction; nil: the topology's ``Topology/replicationFactor``.
        public var replicationFactor: Int?
        /// While a change is being rebalanced (a raised replication factor, a node removed before it was drained), the
        /// number of replicas every object of the jurisdiction is known to have; nil when it has its replication
        /// factor. Reads take absence as proven only from enough answers for this smaller count.
        public var settledReplicas: Int?
        /// Whether a placement change of this jurisdiction awaits its first complete rebalance pass: until then the
        /// preferred replicas of a key may hold an older version than nodes placement named before, so a read asks
        /// every node.
        public var rebalancing: Bool?
        /// Whether every current version of the jurisdiction is in its bucket's listing index on the index replicas
        /// (``Topology/indexReplicas(_:bucket:)``): set when the jurisdiction was first published empty, or by a
        /// complete rebalance pass (which rebuilds the indexes); nil or false: listings merge every node's manifests.
        public var listingIndexed: Bool?

        /// Accepted values of ``cipher``.
        public static let ciphers = ["aes-256-gcm", "xchacha20-poly1305"]

        public init(code: Jurisdiction, regions: [String] = [], nodes: [NodeEntry], cipher: String? = nil) {
            self.code = code
            self.regions = regions
            self.nodes = nodes
            self.cipher = cipher
        }
    }

    /// One storage node. `address` is empty for a node inside the gateway's process.
    public struct NodeEntry: Sendable, Codable, Equatable {
        public var id: NodeID
        public var address: String?
        /// Where the node is (a data centre), as its certificate names it; the jurisdiction's first region when absent.
        public var site: String?
        /// Whether the node is being drained (`qantara node drain`): it takes no new placements and the rebalance moves
        /// what it holds to the other nodes of its jurisdiction; it is still read until it is removed.
        public var draining: Bool?

        public init(id: NodeID, address: String? = nil, site: String? = nil, draining: Bool? = nil) {
            self.id = id
            self.address = address
            self.site = site
            self.draining = draining
        }

        public var isDraining: Bool { draining == true }
    }

    public var jurisdictions: [JurisdictionEntry]
    public var replicationFactor: Int
    /// The jurisdiction of buckets created without a `LocationConstraint`.
    public var defaultJurisdiction: Jurisdiction
    /// How many placement changes (``TopologyChange``) were made since the topology was first stored; nil: none. Once
    /// placement was changed this way, the stored topology, not a topology file, says where objects live.
    public var placementEpoch: Int?

    public init(jurisdictions: [JurisdictionEntry], replicationFactor: Int = Limits.replicationFactorDefault,
                defaultJurisdiction: Jurisdiction) {
        self.jurisdictions = jurisdictions
        self.replicationFactor = replicationFactor
        self.defaultJurisdiction = defaultJurisdiction
    }

    /// The nodes of `jurisdiction` (draining ones included: they are still read), or nil when the topology has no
    /// such jurisdiction.
    public func nodes(of jurisdiction: Jurisdiction) -> [NodeID]? {
        jurisdictions.first { $0.code == jurisdiction }?.nodes.map(\.id)
    }

    /// The entry of `jurisdiction`.
    public func entry(_ jurisdiction: Jurisdiction) -> JurisdictionEntry? {
        jurisdictions.first { $0.code == jurisdiction }
    }

    /// Replicas per object in `jurisdiction`.
    public func replicas(of jurisdiction: Jurisdiction) -> Int {
        entry(jurisdiction)?.replicationFactor ?? replicationFactor
    }

    /// The replicas every object of `jurisdiction` is known to have now (fewer than ``replicas(of:)`` while a change
    /// is being rebalanced).
    public func settledReplicas(of jurisdiction: Jurisdiction) -> Int {
        let target = replicas(of: jurisdiction)
        return min(target, entry(jurisdiction)?.settledReplicas ?? target)
    }

    /// Whether `jurisdiction` awaits a complete rebalance pass after a placement change.
    public func isRebalancing(_ jurisdiction: Jurisdiction) -> Bool { entry(jurisdiction)?.rebalancing == true }

    /// Whether listings of `jurisdiction` read the buckets' listing indexes: they are complete (``JurisdictionEntry/listingIndexed``)
    /// and no placement change awaits its rebalance (its pass moves the indexes too, and fills a raised R's new
    /// index replicas).
    public func usesListingIndex(_ jurisdiction: Jurisdiction) -> Bool {
        guard let entry = entry(jurisdiction) else { return false }
        return entry.listingIndexed == true && entry.rebalancing != true && entry.settledReplicas == nil
    }

    /// The nodes that hold the listing index of `bucket` in `jurisdiction`: the first ``replicas(of:)`` of its nodes
    /// taking placements, ranked by rendezvous hashing of the bucket alone, so a listing asks R nodes whatever their
    /// number.
    public func indexReplicas(_ jurisdiction: Jurisdiction, bucket: String) -> [NodeID] {
        guard let nodes = entry(jurisdiction)?.nodes else { return [] }
        let active = nodes.filter { !$0.isDraining }.map(\.id)
        return Array(Rendezvous.rankIndex(active, bucket: bucket).prefix(replicas(of: jurisdiction)))
    }

    /// The topology with every jurisdiction's listing index marked complete: how a deployment is first published,
    /// its nodes empty.
    public func indexedFromTheStart() -> Topology {
        var result = self
        for index in result.jurisdictions.indices { result.jurisdictions[index].listingIndexed = true }
        return result
    }

    /// The topology without what the deployment records of its own history (placement epoch, settling replicas,
    /// rebalancing, listing indexes): what a topology file can be compared with.
    public func withoutRecords() -> Topology {
        var result = self
        result.placementEpoch = nil
        for index in result.jurisdictions.indices {
            result.jurisdictions[index].settledReplicas = nil
            result.jurisdictions[index].rebalancing = nil
            result.jurisdictions[index].listingIndexed = nil
        }
        return result
    }

    /// `jurisdiction`'s nodes, the ones taking placements (not draining) first, each part ordered from most to least
    /// preferred for `key` of `bucket` by rendezvous hashing. Empty for an unknown jurisdiction.
    public func ranked(_ jurisdiction: Jurisdiction, bucket: String, key: String) -> [NodeID] {
        guard let nodes = entry(jurisdiction)?.nodes else { return [] }
        let active = nodes.filter { !$0.isDraining }.map(\.id), draining = nodes.filter(\.isDraining).map(\.id)
        return Rendezvous.rank(active, bucket: bucket, key: key)
            + (draining.isEmpty ? [] : Rendezvous.rank(draining, bucket: bucket, key: key))
    }

    /// The nodes that should hold `key` of `bucket`: the first ``replicas(of:)`` of ``ranked(_:bucket:key:)``.
    public func preferred(_ jurisdiction: Jurisdiction, bucket: String, key: String) -> ArraySlice<NodeID> {
        ranked(jurisdiction, bucket: bucket, key: key).prefix(replicas(of: jurisdiction))
    }

    /// Resolves a `LocationConstraint`: a jurisdiction code or a region name the topology maps to one.
    public func jurisdiction(forLocation location: String) -> Jurisdiction? {
        if let code = Jurisdiction(location), jurisdictions.contains(where: { $0.code == code }) { return code }
        return jurisdictions.first { $0.regions.contains(location) }?.code
    }

    /// Every problem of the topology, each naming the field; empty when it is valid.
    public func problems() -> [String] {
        var problems = [String]()
        if jurisdictions.isEmpty { problems.append("jurisdictions: at least one jurisdiction is required") }
        if replicationFactor < 1 { problems.append("replicationFactor: must be at least 1, is \(replicationFactor)") }
        var seenCodes = Set<Jurisdiction>(), seenNodes = Set<NodeID>(), seenRegions = Set<String>()
        for (index, entry) in jurisdictions.enumerated() {
            let field = "jurisdictions[\(index)]"
            if !seenCodes.insert(entry.code).inserted { problems.append("\(field).code: duplicate jurisdiction \(entry.code)") }
            let factor = entry.replicationFactor ?? replicationFactor
            if let own = entry.replicationFactor, own < 1 {
                problems.append("\(field).replicationFactor: must be at least 1, is \(own)")
            }
            let placing = entry.nodes.filter { !$0.isDraining }.count
            if placing < factor {
                problems.append("\(field).nodes: \(entry.code) has \(placing) node(s) taking placements, fewer than "
                    + "replicationFactor \(factor)")
            }
            for (nodeIndex, node) in entry.nodes.enumerated() where !seenNodes.insert(node.id).inserted {
                problems.append("\(field).nodes[\(nodeIndex)].id: duplicate node id \"\(node.id)\"")
            }
            if let cipher = entry.cipher, !JurisdictionEntry.ciphers.contains(cipher) {
                problems.append("\(field).cipher: \"\(cipher)\" is not one of \(JurisdictionEntry.ciphers.joined(separator: ", "))")
            }
            for region in entry.regions where !seenRegions.insert(region).inserted {
                problems.append("\(field).regions: region \"\(region)\" is mapped twice")
            }
        }
        if !seenCodes.contains(defaultJurisdiction) {
            problems.append("defaultJurisdiction: \(defaultJurisdiction) is not one of the jurisdictions")
        }
        return problems
    }
}

extension Topology {
    /// The development topology `qantara serve` runs without `--topology`: three jurisdictions (MA, the default; FR;
    /// US) of three in-process nodes each, two replicas per object. `Deploy/topology.dev.json` holds the same topology
    /// as an editable example (a test keeps the two equal).
    public static let development = Topology(
        jurisdictions: [
            .init(code: Jurisdiction("MA")!, regions: ["ma-central-1"], nodes: ["ma-1", "ma-2", "ma-3"].map(Self.node)),
            .init(code: Jurisdiction("FR")!, regions: ["eu-west-3"], nodes: ["fr-1", "fr-2", "fr-3"].map(Self.node)),
            .init(code: Jurisdiction("US")!, regions: ["us-east-1"], nodes: ["us-1", "us-2", "us-3"].map(Self.node)),
        ],
        replicationFactor: 2, defaultJurisdiction: Jurisdiction("MA")!)

    private static func node(_ id: String) -> NodeEntry { NodeEntry(id: NodeID(id)!) }
}
