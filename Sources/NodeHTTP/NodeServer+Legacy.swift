import Hummingbird
import ObjectModel
import StorageNode

/// The per-kind change endpoints of earlier versions (`POST /v1/commit`, `/v1/part`, `/v1/index`, `/v1/envelope`,
/// `/v1/lock`, `/v1/upload`, `/v1/repair`, `DELETE /v1/version`, `/v1/segment`, `/v1/upload`, `/v1/bucket`), read
/// into the same node change as `POST /v1/change` and applied through it, with their old answers: so that nodes
/// upgrade before the gateways that still send them (`Docs/operators.md`, "Upgrades"). They go in a later version.
extension NodeServer {
    func legacyChange(_ request: Request, endpoint: String, query: [String: String], jurisdiction: Jurisdiction)
        async throws -> Response?
    {
        let change: NodeChange
        switch (request.method, endpoint) {
        case (.post, "commit") where query["inline"] != nil:
            let records = try NodeWire.unframe(try await Self.body(request))
            guard records.count == 2 else { throw ParameterError(message: "inline commit needs manifest and segment") }
            let manifest = try ObjectManifest(decoding: records[0])
            try NodeWire.checkInline(records[1], of: manifest)
            change = .commit(jurisdiction, manifest: manifest, completing: nil, inlineSegment: records[1])
        case (.post, "commit"):
            change = .commit(jurisdiction, manifest: try ObjectManifest(decoding: try await Self.body(request)),
                             completing: try query["upload"].map { _ in try Self.version(query, "upload") },
                             inlineSegment: nil)
        case (.post, "part"):
            change = .commitPart(jurisdiction, upload: try Self.version(query, "upload"),
                                 record: try PartRecord(decoding: try await Self.body(request)))
        case (.post, "index"):
            change = .index(jurisdiction, try IndexEdit.decoding(try await Self.body(request)))
        case (.delete, "version"):
            guard let now = query["now"].flatMap(Int64.init) else {
                throw ParameterError(message: "now: the deleting gateway's time in milliseconds is required")
            }
            change = .deleteVersion(jurisdiction, bucket: try Self.text(query, "bucket"), key: try Self.text(query, "key"),
                                    version: try Self.version(query, "version"), sequence: try Self.sequence(query),
                                    check: LockCheck(nowMillis: now, bypassGovernance: query["bypass"] == "1",
                                                     relocating: query["relocating"] == "1"))
        case (.post, "envelope"):
            guard let field = SealedField(rawValue: query["field"] ?? SealedField.envelope.rawValue) else {
                throw ParameterError(message: "unknown sealed field")
            }
            change = .replaceSealed(jurisdiction, bucket: try Self.text(query, "bucket"), key: try Self.text(query, "key"),
                                    version: try Self.version(query, "version"),
                                    sequence: query["sequence"].flatMap(UInt64.init), upload: query["upload"] == "1",
                                    field: field, bytes: try await Self.body(request))
        case (.post, "lock"):
            let locks: [ObjectLock]
            do { locks = try NodeWire.unframe(try await Self.body(request)).map(ObjectLock.init(decoding:)) } catch {
                throw ParameterError(message: "lock: \(error)")
            }
            guard locks.count == 2 else { throw ParameterError(message: "lock: the expected lock, then the new one") }
            change = .replaceLock(jurisdiction, bucket: try Self.text(query, "bucket"), key: try Self.text(query, "key"),
                                  version: try Self.version(query, "version"), sequence: try Self.sequence(query),
                                  expected: locks[0], lock: locks[1])
        case (.post, "upload"):
            change = .createUpload(jurisdiction, template: try ObjectManifest(decoding: try await Self.body(request)))
        case (.delete, "segment"):
            change = .abortSegments(jurisdiction, version: try Self.version(query, "version"))
        case (.delete, "upload"):
            change = .abortUpload(jurisdiction, bucket: try Self.text(query, "bucket"), key: try Self.text(query, "key"),
                                  upload: try Self.version(query, "upload"))
        case (.delete, "bucket"):
            change = .purge(jurisdiction, bucket: try Self.text(query, "bucket"))
        case (.post, "repair"):
            return try await legacyRepair(request, query: query, jurisdiction: jurisdiction)
        default:
            return nil
        }
        let outcome = try await node.apply(change)
        switch (request.method, endpoint) {
        case (.post, "upload"), (.delete, "segment"), (.delete, "upload"), (.delete, "bucket"):
            return Response(status: .noContent)
        case (_, "envelope"), (_, "lock"): return Self.plain(.ok, outcome == .committed ? "replaced" : "unchanged")
        default: return Self.plain(.ok, outcome == .committed ? "committed" : "superseded")
        }
    }

    /// `POST /v1/repair`: the segments in the body are staged by a segment stream and named by a repair change, as a
    /// gateway of this version sends them (``StorageNodeClient/repairSegments(_:bucket:key:version:sequence:extent:segments:)``).
    private func legacyRepair(_ request: Request, query: [String: String], jurisdiction: Jurisdiction) async throws
        -> Response
    {
        let segments: [RepairSegment]
        do {
            segments = try NodeWire.decodeRepair(try await Self.body(
                request, limit: Limits.repairSegmentsMax * (NodeWire.segmentBytesMax + 8)))
        } catch { throw ParameterError(message: "repair: \(error)") }
        guard (1...Limits.repairSegmentsMax).contains(segments.count) else {
            throw ParameterError(message: "repair: 1 to \(Limits.repairSegmentsMax) segments a request")
        }
        // No stored segment is larger: refused as the earlier node refused bytes that could not match, before any is
        // staged.
        guard segments.allSatisfy({ $0.bytes.count <= NodeWire.segmentBytesMax }) else {
            return Self.plain(.ok, "refused")
        }
        let repaired = try await node.repairSegments(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                     key: try Self.text(query, "key"),
                                                     version: try Self.version(query, "version"),
                                                     sequence: try Self.sequence(query),
                                                     extent: try Self.version(query, "extent"), segments: segments)
        return Self.plain(.ok, repaired ? "repaired" : "refused")
    }
}
