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

        public init(id: NodeID, address: String? = nil, site: String? = nil) {
            self.id = id
            self.address = address
            self.site = site
        }
    }

    public var jurisdictions: [JurisdictionEntry]
    public var replicationFactor: Int
    /// The jurisdiction of buckets created without a `LocationConstraint`.
    public var defaultJurisdiction: Jurisdiction

    public init(jurisdictions: [JurisdictionEntry], replicationFactor: Int = Limits.replicationFactorDefault,
                defaultJurisdiction: Jurisdiction) {
        self.jurisdictions = jurisdictions
        self.replicationFactor = replicationFactor
        self.defaultJurisdiction = defaultJurisdiction
    }

    /// The nodes of `jurisdiction`, or nil when the topology has no such jurisdiction.
    public func nodes(of jurisdiction: Jurisdiction) -> [NodeID]? {
        jurisdictions.first { $0.code == jurisdiction }?.nodes.map(\.id)
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
            if entry.nodes.count < replicationFactor {
                problems.append("\(field).nodes: \(entry.code) has \(entry.nodes.count) node(s), fewer than "
                    + "replicationFactor \(replicationFactor)")
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
