import ObjectModel

/// The identity stamped into a node's database when it is created: the node refuses any database whose stamp
/// names another jurisdiction or node.
struct NodeStamp: Equatable {
    static let formatVersion: UInt8 = 1
    var node: NodeID
    var jurisdiction: Jurisdiction
    var createdMillis: Int64

    func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.formatVersion)
        writer.writeString(jurisdiction.code)
        writer.writeString(node.rawValue)
        writer.write(createdMillis)
        return writer.bytes
    }

    init(node: NodeID, jurisdiction: Jurisdiction, createdMillis: Int64) {
        self.node = node
        self.jurisdiction = jurisdiction
        self.createdMillis = createdMillis
    }

    init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8()
        guard version == Self.formatVersion else { throw FormatError("unknown node stamp version \(version)") }
        guard let jurisdiction = Jurisdiction(try reader.readString()) else { throw FormatError("stamp jurisdiction") }
        guard let node = NodeID(try reader.readString()) else { throw FormatError("stamp node id") }
        self.init(node: node, jurisdiction: jurisdiction, createdMillis: try reader.readInt64())
        guard reader.isAtEnd else { throw FormatError("trailing bytes after stamp") }
    }
}
