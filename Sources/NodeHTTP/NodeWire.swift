import NIOCore
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

    /// Largest segment a segment stream carries: one segment and its authentication tag.
    static let segmentBytesMax = Limits.segmentSizeBytes + Limits.segmentOverheadBytesMax
    /// Bytes of a segment stream frame's header: kind, index, length.
    static let frameHeaderBytes = 9

    /// Appends the header of a segment stream frame to `buffer`.
    static func writeFrameHeader(_ kind: SegmentFrame.Kind, index: UInt32, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(index)
        buffer.writeInteger(UInt32(length))
    }

    /// A whole segment stream frame.
    static func frame(_ kind: SegmentFrame.Kind, index: UInt32, payload: some Collection<UInt8>) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: frameHeaderBytes + payload.count)
        writeFrameHeader(kind, index: index, length: payload.count, into: &buffer)
        buffer.writeBytes(payload)
        return buffer
    }

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

    /// The body of the legacy `POST /v1/repair` (``NodeServer``): each segment a record of its index (u32 BE), then
    /// its bytes.
    static func decodeRepair(_ bytes: [UInt8]) throws -> [RepairSegment] {
        try unframe(bytes).map { record in
            guard record.count >= 4 else { throw FormatError("repair segment without its index") }
            let index = record[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return RepairSegment(index: index, bytes: Array(record[4...]))
        }
    }

    /// A page of versions: its next position (an empty record when complete), then its manifests.
    static func encodeVersions(_ batch: VersionBatch) -> [UInt8] {
        frame([batch.next?.encoded() ?? []] + batch.versions.map { $0.encoded() })
    }

    static func decodeVersions(_ bytes: [UInt8]) throws -> VersionBatch {
        let records = try unframe(bytes)
        guard let first = records.first else { throw FormatError("empty version page") }
        return VersionBatch(versions: try records.dropFirst().map { try ObjectManifest(decoding: $0) },
                            next: first.isEmpty ? nil : try VersionPosition(decoding: first))
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
        // Added later, after the fields above (older readers stop before them): each a presence byte and a value.
        for value in [status.storedBytes, status.freeBytes, status.versionCount.map(Int64.init)] {
            writer.write(UInt8(value == nil ? 0 : 1))
            if let value { writer.write(value) }
        }
        return writer.bytes
    }

    static func decodeStatus(_ bytes: [UInt8]) throws -> NodeStatus {
        var reader = BinaryReader(bytes)
        guard try reader.readUInt8() == 1 else { throw FormatError("unknown node status version") }
        guard let node = NodeID(try reader.readString()), let jurisdiction = Jurisdiction(try reader.readString()) else {
            throw FormatError("invalid node status")
        }
        var status = NodeStatus(node: node, jurisdiction: jurisdiction, online: try reader.readUInt8() == 1,
                                objectCount: Int(try reader.readUInt64()),
                                uploadsInProgress: Int(try reader.readUInt64()),
                                segmentCount: Int(try reader.readUInt64()))
        if !reader.isAtEnd, try reader.readUInt8() == 1 { status.storedBytes = try reader.readInt64() }
        if !reader.isAtEnd, try reader.readUInt8() == 1 { status.freeBytes = try reader.readInt64() }
        if !reader.isAtEnd, try reader.readUInt8() == 1 { status.versionCount = Int(try reader.readInt64()) }
        return status
    }
}

/// One frame of a segment stream (`PUT` and `GET /v1/segments`). A stream is a sequence of frames, each a kind byte,
/// a 32-bit index and a 32-bit length (big endian), then `length` bytes: a segment of at most
/// ``NodeWire/segmentBytesMax`` bytes, or, ending a response whose status was already sent, the node error that
/// stopped it (its kind, a zero byte, its message).
enum SegmentFrame {
    enum Kind: UInt8 {
        case segment = 0
        case error = 1
    }

    case segment(index: UInt32, bytes: ByteBuffer)
    case error(kind: String, message: String)
}

/// Cuts a segment stream into frames as its chunks arrive, holding at most one frame: a frame whose header declares
/// more than ``NodeWire/segmentBytesMax`` bytes is refused before anything is allocated for it.
struct SegmentFrameDecoder {
    private var header = ByteBuffer()
    private var kind = SegmentFrame.Kind.segment
    private var index: UInt32 = 0
    private var length = 0
    private var payload: ByteBuffer?

    /// Whether the bytes fed so far end on a frame boundary.
    var isAtFrameBoundary: Bool { payload == nil && header.readableBytes == 0 }

    /// The next complete frame, consuming bytes of `input`; nil once `input` is used up inside a frame.
    mutating func next(_ input: inout ByteBuffer) throws -> SegmentFrame? {
        if payload == nil {
            if header.readableBytes == 0, input.readableBytes >= NodeWire.frameHeaderBytes {
                try readHeader(&input)
            } else {
                var slice = input.readSlice(length: min(NodeWire.frameHeaderBytes - header.readableBytes,
                                                        input.readableBytes))!
                header.writeBuffer(&slice)
                guard header.readableBytes == NodeWire.frameHeaderBytes else { return nil }
                var complete = header
                header.clear()
                try readHeader(&complete)
            }
        }
        // A frame wholly inside the chunk is a slice of it, with no copy.
        if payload!.readableBytes == 0, input.readableBytes >= length {
            payload = nil
            return try frame(input.readSlice(length: length)!)
        }
        var slice = input.readSlice(length: min(length - payload!.readableBytes, input.readableBytes))!
        payload!.reserveCapacity(length)
        payload!.writeBuffer(&slice)
        guard payload!.readableBytes == length else { return nil }
        defer { payload = nil }
        return try frame(payload!)
    }

    private mutating func readHeader(_ buffer: inout ByteBuffer) throws {
        guard let kind = SegmentFrame.Kind(rawValue: buffer.readInteger()!) else {
            throw FormatError("unknown segment stream frame")
        }
        index = buffer.readInteger()!
        let declared: UInt32 = buffer.readInteger()!
        guard declared <= NodeWire.segmentBytesMax else {
            throw FormatError("segment stream frame of \(declared) bytes, more than \(NodeWire.segmentBytesMax)")
        }
        self.kind = kind
        length = Int(declared)
        payload = ByteBuffer()
    }

    private func frame(_ bytes: ByteBuffer) throws -> SegmentFrame {
        switch kind {
        case .segment:
            return .segment(index: index, bytes: bytes)
        case .error:
            let text = String(buffer: bytes)
            guard let separator = text.firstIndex(of: "\u{0}") else { throw FormatError("malformed error frame") }
            return .error(kind: String(text[..<separator]), message: String(text[text.index(after: separator)...]))
        }
    }
}
