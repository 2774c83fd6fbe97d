import ObjectModel
import StorageNode

/// The internal node protocol over HTTP: paths, parameters and body framing shared by ``NodeServer`` and
/// ``HTTPNodeClient``. Bodies are binary: a segment's bytes, or stored records (manifests, part records) framed as
/// 32-bit length + bytes. Bucket names, keys and prefixes travel hex-encoded, so no byte of a key is ambiguous.
enum NodeWire {
    static let prefix = "/v1/"
    /// Header naming a node error's kind, so the client rebuilds the typed ``NodeError``.
    static let errorHeader = "x-qantara-node-error"
    /// Header carrying the node's jurisdiction on a `wrongJurisdiction` error.
    static let jurisdictionHeader = "x-qantara-node-jurisdiction"
    /// Largest request body a node reads: one segment plus a margin for a manifest's metadata.
    static let bodyBytesMax = Limits.segmentSizeBytes + 64 * 1024

    static func frame(_ records: [[UInt8]]) -> [UInt8] {
        var writer = BinaryWriter(capacity: records.reduce(0) { $0 + $1.count + 4 })
        for record in records { writer.writeField(record) }
        return writer.bytes
    }

    static func unframe(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var reader = BinaryReader(bytes)
        var records = [[UInt8]]()
        while !reader.isAtEnd { records.append(try reader.readField()) }
        return records
    }

    static func encodeStatus(_ status: NodeStatus) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt8(1))
        writer.writeString(status.node.rawValue)
        writer.writeString(status.jurisdiction.code)
        writer.write(UInt8(status.online ? 1 : 0))
        writer.write(UInt64(status.objectCount))
        writer.write(UInt64(status.uploadsInProgress))
        writer.write(UInt64(status.segmentCount))
        return writer.bytes
    }

    static func decodeStatus(_ bytes: [UInt8]) throws -> NodeStatus {
        var reader = BinaryReader(bytes)
        guard try reader.readUInt8() == 1 else { throw FormatError("unknown node status version") }
        guard let node = NodeID(try reader.readString()), let jurisdiction = Jurisdiction(try reader.readString()) else {
            throw FormatError("invalid node status")
        }
        return NodeStatus(node: node, jurisdiction: jurisdiction, online: try reader.readUInt8() == 1,
                          objectCount: Int(try reader.readUInt64()), uploadsInProgress: Int(try reader.readUInt64()),
                          segmentCount: Int(try reader.readUInt64()))
    }
}
