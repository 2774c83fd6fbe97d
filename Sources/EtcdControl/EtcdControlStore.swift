import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ObjectService
import StorageEngine
import Synchronization

/// The control plane in etcd (v3 API through its JSON gateway), shared by the gateways of every jurisdiction:
/// conditional writes are transactions comparing the key's `mod_revision` (absent: 0), so of two gateways creating
/// one bucket name at once exactly one wins; changes reach every gateway through `/v3/watch`, streamed.
///
/// Addressed as `etcd://HOST:PORT[,HOST:PORT…][/NAMESPACE]` (`etcds://` for TLS, with the client's TLS configuration:
/// etcd's certificate authority, and a client certificate when etcd requires one): the members are tried in order
/// (the one that answered last first); every key is kept under `NAMESPACE/` (default `qantara/`), so one etcd can
/// serve other users.
public final class EtcdControlStore: ControlStore {
    public let name: String
    let endpoints: [String]
    let namespace: String
    /// `http` or `https`.
    let scheme: String
    let http: HTTPClient
    let timeout: TimeAmount
    private let preferred = Atomic<Int>(0)

    public struct InvalidAddress: Error, CustomStringConvertible {
        public let description: String
    }

    public init(url: String, http: HTTPClient, timeout: TimeAmount = .seconds(5)) throws {
        let secure = url.hasPrefix("etcds://")
        guard url.hasPrefix("etcd://") || secure else {
            throw InvalidAddress(description: "\(url): expected etcd://HOST:PORT[,…][/NAMESPACE] (etcds:// for TLS)")
        }
        let rest = url.dropFirst(secure ? "etcds://".count : "etcd://".count)
        scheme = secure ? "https" : "http"
        let hosts = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(hosts.count).drop { $0 == "/" }
        let endpoints = hosts.split(separator: ",").map(String.init)
        guard !endpoints.isEmpty, endpoints.allSatisfy({ $0.contains(":") && !$0.contains("@") }) else {
            throw InvalidAddress(description: "\(url): expected etcd://HOST:PORT[,HOST:PORT…][/NAMESPACE]")
        }
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : String(path)
        // No '/' inside: a namespace nested in another would show its records to the outer one.
        guard trimmed.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x2F }) else {
            throw InvalidAddress(description: "\(url): the namespace must be printable ASCII without '/'")
        }
        self.endpoints = endpoints
        self.namespace = (trimmed.isEmpty ? "qantara" : trimmed) + "/"
        self.http = http
        self.timeout = timeout
        self.name = url
    }

    // MARK: Transport

    /// POSTs `body` to `path` on the first member that answers.
    private func call<Response: Decodable>(_ path: String, _ body: some Encodable, as type: Response.Type) async throws
        -> Response
    {
        let payload = try JSONEncoder().encode(body)
        let first = preferred.load(ordering: .relaxed)
        var failures = [String]()
        for offset in 0..<endpoints.count {
            let index = (first + offset) % endpoints.count
            var request = HTTPClientRequest(url: "\(scheme)://\(endpoints[index])\(path)")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
            let response: HTTPClientResponse, bytes: ByteBuffer
            do {
                response = try await http.execute(request, timeout: timeout)
                bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
            } catch {
                failures.append("\(endpoints[index]): \(error)")
                continue
            }
            let data = Data(bytes.readableBytesView)
            guard response.status == .ok else {
                let message = (try? JSONDecoder().decode(EtcdWire.ErrorBody.self, from: data))?.message
                    ?? String(decoding: data.prefix(200), as: UTF8.self)
                // A member that lost its quorum answers, but cannot commit: as good as unreachable; the next may.
                failures.append("\(endpoints[index]) answered \(response.status.code): \(message)")
                continue
            }
            preferred.store(index, ordering: .relaxed)
            do { return try JSONDecoder().decode(type, from: data) } catch {
                throw ControlStoreError.malformed("\(path): \(error)")
            }
        }
        throw ControlStoreError.unavailable("no etcd member answered (\(failures.joined(separator: "; ")))")
    }

    private func storeKey(_ key: String) -> EtcdWire.Bytes { EtcdWire.Bytes(namespace + key) }

    private func entry(_ kv: EtcdWire.KeyValue) -> ControlEntry? {
        let full = String(decoding: kv.key.value, as: UTF8.self)
        guard full.hasPrefix(namespace) else { return nil }
        return ControlEntry(key: String(full.dropFirst(namespace.count)), value: kv.value?.value ?? [],
                            revision: kv.mod_revision?.value ?? 0)
    }

    private static func revision(_ header: EtcdWire.Header?) throws -> Int64 {
        guard let revision = header?.revision?.value else { throw ControlStoreError.malformed("an answer without a revision") }
        return revision
    }

    // MARK: ControlStore

    public func snapshot(prefix: String) async throws -> ControlSnapshot {
        let start = Array((namespace + prefix).utf8)
        guard let end = prefixSuccessor(start) else { throw ControlStoreError.malformed("empty prefix") }
        var entries = [ControlEntry](), from = start, pinned: Int64?
        // Pages of 1000 keys, every page read at the first page's revision: one consistent view.
        while true {
            let page = try await call("/v3/kv/range", EtcdWire.RangeRequest(
                key: EtcdWire.Bytes(from), range_end: EtcdWire.Bytes(end), limit: EtcdWire.Int64Text(1000),
                revision: pinned.map(EtcdWire.Int64Text.init)), as: EtcdWire.RangeResponse.self)
            let revision = try pinned ?? Self.revision(page.header)
            pinned = revision
            let kvs = page.kvs ?? []
            entries += kvs.compactMap(entry)
            guard page.more == true, let last = kvs.last else { return ControlSnapshot(entries: entries, revision: revision) }
            from = last.key.value + [0]
        }
    }

    public func get(_ key: String) async throws -> ControlEntry? {
        let answer = try await call("/v3/kv/range", EtcdWire.RangeRequest(key: storeKey(key)), as: EtcdWire.RangeResponse.self)
        return answer.kvs?.first.flatMap(entry)
    }

    public func write(_ key: String, _ value: [UInt8], ifRevision expected: Int64?) async throws -> ControlWrite {
        let put = EtcdWire.PutRequest(key: storeKey(key), value: EtcdWire.Bytes(value))
        guard let expected else {
            let answer = try await call("/v3/kv/put", put, as: EtcdWire.RevisionResponse.self)
            return .written(revision: try Self.revision(answer.header))
        }
        let answer = try await call("/v3/kv/txn", EtcdWire.TxnRequest(
            compare: [.init(key: storeKey(key), target: "MOD", result: "EQUAL", mod_revision: .init(expected))],
            success: [.init(request_put: put)],
            failure: [.init(request_range: .init(key: storeKey(key)))]), as: EtcdWire.TxnResponse.self)
        if answer.succeeded == true { return .written(revision: try Self.revision(answer.header)) }
        return .conflict(answer.responses?.first?.response_range?.kvs?.first.flatMap(entry))
    }

    public func delete(_ key: String, ifRevision expected: Int64?) async throws -> ControlWrite {
        guard let expected else {
            let answer = try await call("/v3/kv/deleterange", EtcdWire.DeleteRangeRequest(key: storeKey(key)),
                                        as: EtcdWire.RevisionResponse.self)
            return .written(revision: try Self.revision(answer.header))
        }
        let answer = try await call("/v3/kv/txn", EtcdWire.TxnRequest(
            compare: [.init(key: storeKey(key), target: "MOD", result: "EQUAL", mod_revision: .init(expected))],
            success: [.init(request_delete_range: .init(key: storeKey(key)))],
            failure: [.init(request_range: .init(key: storeKey(key)))]), as: EtcdWire.TxnResponse.self)
        if answer.succeeded == true { return .written(revision: try Self.revision(answer.header)) }
        return .conflict(answer.responses?.first?.response_range?.kvs?.first.flatMap(entry))
    }

    public func progress(after revision: Int64) async throws -> ControlProgress? {
        let start = Array(namespace.utf8)
        let answer = try await call("/v3/kv/range", EtcdWire.RangeRequest(
            key: EtcdWire.Bytes(start), range_end: EtcdWire.Bytes(prefixSuccessor(start) ?? []), limit: .init(1),
            sort_order: "ASCEND", sort_target: "MOD", keys_only: true, min_mod_revision: .init(revision + 1)),
            as: EtcdWire.RangeResponse.self)
        return ControlProgress(oldestChange: answer.kvs?.first?.mod_revision?.value, revision: try Self.revision(answer.header))
    }

    public func compact() async throws {
        let current = try await call("/v3/kv/range", EtcdWire.RangeRequest(key: storeKey("")), as: EtcdWire.RangeResponse.self)
        do {
            _ = try await call("/v3/kv/compaction", EtcdWire.CompactionRequest(
                revision: .init(try Self.revision(current.header)), physical: true), as: EtcdWire.RevisionResponse.self)
        } catch ControlStoreError.unavailable(let message) where message.contains("has been compacted") {
            // Nothing written since the last compaction: nothing left to drop.
        }
    }

    public func changes(after revision: Int64) -> AsyncThrowingStream<ControlChange, any Error>? {
        let (stream, continuation) = AsyncThrowingStream<ControlChange, any Error>.makeStream()
        let task = Task {
            do {
                try await self.watch(after: revision, into: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Streams the namespace's changes after `revision` from one member until the stream ends.
    private func watch(after revision: Int64, into continuation: AsyncThrowingStream<ControlChange, any Error>.Continuation)
        async throws
    {
        let start = Array(namespace.utf8)
        let body = EtcdWire.WatchRequest(create_request: .init(
            key: EtcdWire.Bytes(start), range_end: EtcdWire.Bytes(prefixSuccessor(start) ?? []),
            start_revision: .init(revision + 1), progress_notify: true))
        let endpoint = endpoints[preferred.load(ordering: .relaxed) % endpoints.count]
        var request = HTTPClientRequest(url: "\(scheme)://\(endpoint)/v3/watch")
        request.method = .POST
        // A member cut off from its cluster's leader would serve a watch that never hears of new changes: refused.
        request.headers.add(name: "Grpc-Metadata-hasleader", value: "true")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: .distantFuture)
        } catch {
            // The next attempt tries the next member.
            preferred.wrappingAdd(1, ordering: .relaxed)
            throw ControlStoreError.unavailable("watch on \(endpoint): \(error)")
        }
        guard response.status == .ok else {
            throw ControlStoreError.unavailable("watch on \(endpoint) answered \(response.status.code)")
        }
        var line = [UInt8]()
        for try await chunk in response.body {
            for byte in chunk.readableBytesView {
                guard byte == 0x0A else {
                    line.append(byte)
                    guard line.count <= 64 * 1024 * 1024 else { throw ControlStoreError.malformed("watch message too long") }
                    continue
                }
                try deliver(line, continuation)
                line.removeAll(keepingCapacity: true)
            }
        }
        if !line.isEmpty { try deliver(line, continuation) }
        throw ControlStoreError.unavailable("watch on \(endpoint) ended")
    }

    private func deliver(_ line: [UInt8], _ continuation: AsyncThrowingStream<ControlChange, any Error>.Continuation) throws {
        guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) else { return }
        let message: EtcdWire.WatchLine
        do { message = try JSONDecoder().decode(EtcdWire.WatchLine.self, from: Data(line)) } catch {
            throw ControlStoreError.malformed("watch: \(error)")
        }
        if let error = message.error { throw ControlStoreError.unavailable("watch: \(error.message ?? "error")") }
        guard let result = message.result else { return }
        if let compacted = result.compact_revision?.value, compacted > 0 { throw ControlStoreError.compacted(compacted) }
        if result.canceled == true { throw ControlStoreError.unavailable("watch canceled: \(result.cancel_reason ?? "")") }
        for event in result.events ?? [] {
            guard let entry = entry(event.kv) else { continue }
            if event.type == "DELETE" {
                continuation.yield(.deleted(key: entry.key, revision: entry.revision))
            } else {
                continuation.yield(.put(entry))
            }
        }
    }
}
