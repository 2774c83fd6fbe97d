import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService
import Sovereignty

/// The audit logs' static, read-only view over HTTP, as C2SP `tlog-tiles` lays it out, under
/// `/.well-known/qantara/log/<J>/` (a path no bucket can have): `checkpoint` (the newest checkpoint this gateway
/// recorded, signed by J's authority) and `tile/<L>/<N>[.p/<W>]` (hash tiles of height 8). Anyone may mirror them
/// with any HTTP client: they hold hashes and signatures only. Entry bundles (`tile/entries/<N>[.p/<W>]`: each entry a
/// big-endian `u16` length and the entry's line) name tenants, buckets and keys, so the S3 port refuses them; they
/// are served on the log listener (`--log-listen`), which the operator opens to regulators only.
enum LogTiles {
    static let prefix = "/.well-known/qantara/log/"

    static func respond(_ request: Request, audit: AuditTrail, entries: Bool = false) -> Response {
        guard request.method == .get || request.method == .head else {
            return plain(.methodNotAllowed, "the log is read-only")
        }
        let parts = request.uri.path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
            .map(String.init)
        guard let code = parts.first, let jurisdiction = Jurisdiction(code),
              let log = try? audit.existingLog(jurisdiction) else {
            return plain(.notFound, "no audit log of that jurisdiction here")
        }
        let rest = Array(parts.dropFirst())
        if rest == ["checkpoint"] {
            guard let note = try? log.latestCheckpoint() else { return plain(.notFound, "no checkpoint yet") }
            return bytes(Array(note.utf8), type: "text/plain; charset=utf-8", immutable: false)
        }
        guard rest.first == "tile", rest.count >= 3 else { return plain(.notFound, "unknown path") }
        if rest[1] == "entries" {
            guard entries else {
                return plain(.forbidden, "entry bundles name tenants, buckets and keys: they are served on the log "
                    + "listener (--log-listen) the operator opens to regulators, and J's administrators export them "
                    + "(qantara log export)")
            }
            guard let (index, width) = tileIndex(Array(rest.dropFirst(2))) else { return plain(.notFound, "no such bundle") }
            return bundle(log, index: index, width: width)
        }
        guard let level = Int(rest[1]), let (index, width) = tileIndex(Array(rest.dropFirst(2))),
              let tile = try? log.tile(level: level, index: index, width: width) else {
            return plain(.notFound, "no such tile")
        }
        return bytes(tile, type: "application/octet-stream", immutable: width == 256)
    }

    /// Entries `[256 × index, 256 × index + width)`, each a big-endian `u16` length and the line (C2SP `tlog-tiles`).
    static func bundle(_ log: AuditLog, index: UInt64, width: Int) -> Response {
        guard let size = try? log.treeHead().size, index < UInt64.max / 256, index * 256 + UInt64(width) <= size else {
            return plain(.notFound, "no such bundle")
        }
        var bundle = [UInt8]()
        do {
            for seq in (index * 256 + 1)...(index * 256 + UInt64(width)) {
                let line = Array(try log.line(seq: seq).utf8)
                guard line.count <= Int(UInt16.max) else {
                    return plain(.internalServerError, "entry \(seq) is longer than a bundle entry can be")
                }
                bundle += [UInt8(line.count >> 8), UInt8(line.count & 0xFF)] + line
            }
        } catch {
            return plain(.internalServerError, "\(error)")
        }
        return bytes(bundle, type: "application/octet-stream", immutable: width == 256)
    }

    /// Parses `<N>[.p/<W>]` with N in groups of three digits, all but the last prefixed with `x`.
    static func tileIndex(_ parts: [String]) -> (UInt64, Int)? {
        guard !parts.isEmpty else { return nil }
        var groups = parts
        var width = 256
        if groups.count >= 2, groups[groups.count - 2].hasSuffix(".p") {
            guard let partial = Int(groups.removeLast()), (1...255).contains(partial) else { return nil }
            width = partial
            groups[groups.count - 1] = String(groups[groups.count - 1].dropLast(2))
        }
        guard groups.count <= 7 else { return nil }
        var digits = ""
        for (position, group) in groups.enumerated() {
            let body = position < groups.count - 1 ? (group.hasPrefix("x") ? String(group.dropFirst()) : "") : group
            guard body.count == 3, body.allSatisfy(\.isASCII), body.allSatisfy(\.isNumber) else { return nil }
            digits += body
        }
        guard let index = UInt64(digits) else { return nil }
        return (index, width)
    }

    static func bytes(_ bytes: [UInt8], type: String, immutable: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = immutable ? "public, max-age=31536000, immutable" : "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}

/// The log listener (`--log-listen`): the logs' tiles and entry bundles, nothing else.
struct LogResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let audit: AuditTrail

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.uri.path.hasPrefix(LogTiles.prefix) else {
            return LogTiles.plain(.notFound, "this port serves the audit logs under \(LogTiles.prefix) only")
        }
        return LogTiles.respond(request, audit: audit, entries: true)
    }
}
