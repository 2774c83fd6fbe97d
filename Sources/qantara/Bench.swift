import ArgumentParser
import AsyncHTTPClient
import Envelope
import Foundation
import Hashing
import NIOCore
import NIOHTTP1
import NIOPosix
import ObjectModel
import SigV4
import StorageEngine
import StorageNode
import Synchronization

/// `qantara bench`: a load generator in the manner of MinIO's warp. It signs its own requests (SigV4,
/// `UNSIGNED-PAYLOAD`), keeps N requests in flight for a duration, and prints ops/s, MiB/s and latency percentiles,
/// through AsyncHTTPClient or (`--client socket`) a blocking keep-alive socket per request in flight, which takes
/// about a third of AsyncHTTPClient's CPU per request from the machine under test.
/// With `--storage DIR` it measures the storage ceiling instead: the node's storage layout writing the same bytes
/// R times (large segments into their version's file, then the file synced and the manifest written synced; a small
/// one-segment object and its manifest in one synced batch, as a node commits it), without HTTP. With `--cipher NAME`
/// it measures the object format's raw sealing and opening speed on one core (segments of `--size`), the ceiling
/// being `openssl speed`.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure PUT/GET throughput and latency.")

    @Option(help: "S3 endpoint (or any HTTP server for a ceiling run).") var endpoint: String = "http://127.0.0.1:9000"
    @Option(help: "put, get or mixed (half and half).") var op: String = "put"
    @Option(help: "Object size: 4KiB, 1MiB, 64MiB, or bytes.") var size: String = "1MiB"
    @Option(help: "Requests in flight.") var concurrency: Int = 16
    @Option(help: "Seconds to run.") var duration: Double = 10
    @Option(help: "Bucket (created if missing).") var bucket: String = "bench"
    @Option(help: "Access key (env AWS_ACCESS_KEY_ID).") var accessKey: String = ProcessInfo.processInfo.environment["AWS_ACCESS_KEY_ID"] ?? ""
    @Option(help: "Secret key (env AWS_SECRET_ACCESS_KEY).") var secretKey: String = ProcessInfo.processInfo.environment["AWS_SECRET_ACCESS_KEY"] ?? ""
    @Option(help: "Measure the storage ceiling in this directory instead of HTTP.") var storage: String?
    @Option(help: "Replicas written per object in a storage run.") var replicas: Int = Limits.replicationFactorDefault
    @Option(help: "Distinct objects GETs cycle over.") var objects: Int = 64
    @Option(help: "Storage run: BlobDB value threshold in bytes (0 = BlobDB off); default: the node's setting.")
    var blobThreshold: Int?
    @Flag(inversion: .prefixedNo,
          help: "Storage run: segments of 64 KiB and more as files, as nodes keep them (--no-segment-files: in RocksDB).")
    var segmentFiles = true
    @Option(help: "HTTP client: ahc (AsyncHTTPClient on NIO) or socket (a blocking keep-alive socket per request in flight, leaner).")
    var client: String = "ahc"
    @Option(help: "Measure the object format's cipher (aes-256-gcm or xchacha20-poly1305) on one core instead.")
    var cipher: String?
    @Option(help: "The status every request must answer (default: any 2xx); 403 drives a flood of refused requests.")
    var expectStatus: Int?
    @Flag(help: "Skip creating the bucket and its objects (they exist; this run only reads, or is refused).")
    var noSetup = false

    /// Whether a response's status is the one this run expects.
    func expected(_ status: Int) -> Bool { expectStatus.map { $0 == status } ?? (200..<300).contains(status) }

    var sizeBytes: Int { Self.parseSize(size) ?? 0 }

    static func parseSize(_ text: String) -> Int? {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            return Int(text.dropLast(suffix.count)).map { $0 * factor }
        }
        return Int(text)
    }

    func validate() throws {
        if let cipher, AEADAlgorithm(name: cipher) == nil {
            throw ValidationError("--cipher must be aes-256-gcm or xchacha20-poly1305")
        }
        guard ["ahc", "socket"].contains(client) else { throw ValidationError("--client must be ahc or socket") }
        guard ["put", "get", "mixed"].contains(op) else { throw ValidationError("--op must be put, get or mixed") }
        guard sizeBytes > 0 else { throw ValidationError("--size must be like 4KiB, 1MiB, 64MiB or a byte count") }
        guard concurrency >= 1, duration > 0, replicas >= 1, objects >= 1 else {
            throw ValidationError("--concurrency, --duration, --replicas and --objects must be positive")
        }
    }

    func run() async throws {
        if let cipher {
            for opening in [false, true] {
                let result = Self.runCipher(AEADAlgorithm(name: cipher)!, sizeBytes: sizeBytes, seconds: duration,
                                            opening: opening)
                print(result.report(op: "\(cipher)-\(opening ? "open" : "seal")", size: size, concurrency: 1))
            }
            return
        }
        let result = storage != nil ? try await runStorage() : client == "socket" ? try await runSocket() : try await runHTTP()
        print(result.report(op: storage == nil ? op : "storage-put", size: size, concurrency: concurrency))
    }

    // MARK: HTTP

    private func runHTTP() async throws -> BenchResult {
        var configuration = HTTPClient.Configuration(
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency))
        // No tracer: with the default (no-op) one the client still parses each request's URL again for span
        // attributes, a twentieth of its CPU on small requests, taken from the server under test.
        configuration.tracing.tracer = nil
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await runHTTP(http)
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func runHTTP(_ http: HTTPClient) async throws -> BenchResult {
        let requests = try BenchRequests(self)
        let body = ByteBuffer(bytes: SecureRandom.bytes(sizeBytes))
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        let perform: @Sendable (BenchRequests.Operation) async throws -> Int = { operation in
            var request = HTTPClientRequest(url: base + operation.path)
            request.method = HTTPMethod(rawValue: operation.method)
            // AsyncHTTPClient writes the framing headers itself.
            for (name, value) in requests.signature(operation, over: requests.framingHeaders(operation)) {
                request.headers.add(name: name, value: value)
            }
            if operation.withBody { request.body = .bytes(body) }
            let response = try await http.execute(request, timeout: .seconds(120))
            var received = 0
            for try await chunk in response.body { received += chunk.readableBytes }
            guard expected(Int(response.status.code)) else {
                throw ValidationError("\(request.method) \(request.url) answered \(response.status.code)")
            }
            return received
        }
        if !noSetup {
            _ = try? await perform(requests.createBucket)
            for operation in requests.objectPuts { _ = try await perform(operation) }
        }
        let deadline = Date().addingTimeInterval(duration)
        let counter = Counter()
        let start = Date()
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var local = [Double]()
                    while Date() < deadline {
                        let operation = requests.operation(counter.next())
                        let began = DispatchTime.now().uptimeNanoseconds
                        _ = try await perform(operation)
                        local.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
                    }
                    return local
                }
            }
            var all = [Double]()
            for try await part in group { all += part }
            return all
        }
        return BenchResult(latenciesMillis: latencies, seconds: Date().timeIntervalSince(start), bytesPerOp: sizeBytes)
    }

    /// `runHTTP` with ``BenchConnection``s: one thread and one connection per request in flight.
    private func runSocket() async throws -> BenchResult {
        guard let url = URL(string: endpoint), url.scheme == "http", let host = url.host else {
            throw ValidationError("--client socket needs an http:// endpoint")
        }
        let port = url.port ?? 80
        let requests = try BenchRequests(self)
        let body = SecureRandom.bytes(sizeBytes)
        let perform: @Sendable (BenchConnection, BenchRequests.Operation) throws -> Int = { connection, operation in
            let answer = try body.withUnsafeBytes { bytes in
                try connection.roundTrip(head: requests.head(operation), body: operation.withBody ? bytes : nil)
            }
            guard expected(answer.status) else {
                throw ValidationError("\(operation.method) \(endpoint)\(operation.path) answered \(answer.status)")
            }
            return answer.bodyBytes
        }
        if !noSetup {
            let setup = try BenchConnection(host: host, port: port)
            _ = try? perform(setup, requests.createBucket)
            for operation in requests.objectPuts { _ = try perform(setup, operation) }
        }
        let deadline = Date().addingTimeInterval(duration)
        let counter = Counter()
        let failure = FirstFailure()
        let start = Date()
        // Blocking sockets, so a thread of its own per connection.
        let latencies = await Self.onThreads(concurrency) {
            var local = [Double]()
            do {
                let connection = try BenchConnection(host: host, port: port)
                while Date() < deadline, failure.error == nil {
                    let operation = requests.operation(counter.next())
                    let began = DispatchTime.now().uptimeNanoseconds
                    _ = try perform(connection, operation)
                    local.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
                }
            } catch {
                failure.record(error)
            }
            return local
        }
        if let error = failure.error { throw error }
        return BenchResult(latenciesMillis: latencies, seconds: Date().timeIntervalSince(start), bytesPerOp: sizeBytes)
    }

    // MARK: Storage ceiling

    /// Seals (or opens) segments of `sizeBytes` in place, one after another on this thread, for `seconds`.
    static func runCipher(_ algorithm: AEADAlgorithm, sizeBytes: Int, seconds: Double, opening: Bool) -> BenchResult {
        let cipher = ObjectCipher.create(
            binding: ObjectBinding(jurisdiction: Jurisdiction("MA")!, tenant: "bench", bucket: "bench", key: "k",
                                   version: .random()),
            algorithm: algorithm, segmentSizeBytes: UInt32(Limits.segmentSizeBytes), bucketKey: SecretKey.random(),
            reference: BucketKeyReference(tenantKeyVersion: 1, id: SecureRandom.bytes(16), wrappedKey: []))
        let segments = cipher.segments(extent: .random(), part: 0)
        var buffer = SecureRandom.bytes(sizeBytes) + [UInt8](repeating: 0, count: AEADAlgorithm.tagSizeBytes)
        buffer.withUnsafeMutableBytes { segments.seal(index: 0, last: false, buffer: $0) }
        let sealed = buffer
        // Only the cipher call is timed: opening in place needs the ciphertext copied back first, untimed.
        var latencies = [Double]()
        var busyNanos: UInt64 = 0
        while Double(busyNanos) < seconds * 1e9 {
            if opening { buffer.withUnsafeMutableBytes { target in sealed.withUnsafeBytes { target.copyMemory(from: $0) } } }
            let before = DispatchTime.now().uptimeNanoseconds
            buffer.withUnsafeMutableBytes { bytes in
                if opening {
                    try! segments.open(index: 0, last: false, buffer: bytes)
                } else {
                    segments.seal(index: 0, last: false, buffer: bytes)
                }
            }
            let elapsed = DispatchTime.now().uptimeNanoseconds - before
            busyNanos += elapsed
            latencies.append(Double(elapsed) / 1e6)
        }
        return BenchResult(latenciesMillis: latencies, seconds: Double(busyNanos) / 1e9, bytesPerOp: sizeBytes)
    }

    private func runStorage() async throws -> BenchResult {
        let directory = storage!
        var options = RocksDBOptions()
        if let blobThreshold { options.blobThresholdBytes = blobThreshold == 0 ? nil : blobThreshold }
        let engines = try (0..<replicas).map { try RocksDBEngine(path: "\(directory)/replica-\($0)", options: options) }
        defer { for engine in engines { engine.close() } }
        let files = segmentFiles ? try (0..<replicas).map { try SegmentFiles(root: "\(directory)/replica-\($0)/segments") }
                                 : nil
        let payload = SecureRandom.bytes(min(sizeBytes, Limits.segmentSizeBytes))
        let segments = (sizeBytes + Limits.segmentSizeBytes - 1) / Limits.segmentSizeBytes
        let deadline = Date().addingTimeInterval(duration)
        let start = Date()
        let counter = Counter()
        let (sizeBytes, concurrency) = (self.sizeBytes, self.concurrency)
        // A dedicated thread per writer, as the node's thread pool does: synced writes block.
        let latencies = await Self.onThreads(concurrency) {
            var local = [Double]()
            while Date() < deadline {
                let index = counter.next()
                let began = DispatchTime.now().uptimeNanoseconds
                let id = VersionID.random()
                let version = id.bytes
                for (replica, engine) in engines.enumerated() {
                    // As a node does: a large segment goes to its version's file (and a key naming the file) as
                    // it arrives; a one-segment object below the file threshold goes into its commit's batch.
                    var commit = WriteBatch()
                    for segment in 0..<segments {
                        let length = min(payload.count, sizeBytes - segment * Limits.segmentSizeBytes)
                        let bytes = Array(payload[0..<length])
                        if let files, length >= NodeStore.fileThresholdBytes {
                            try! files[replica].write(id, index: UInt32(segment), bytes: bytes)
                            try! engine.put([0x66] + version, [], sync: false)
                        } else if segments == 1 {
                            commit.put([0x73] + version + [0], bytes)
                        } else {
                            try! engine.put([0x73] + version + [UInt8(segment & 0xFF)], bytes, sync: false)
                        }
                    }
                    // The commit: segment files synced, then the manifest with the WAL.
                    try! files?[replica].sync([id])
                    commit.put([0x6D] + Array("bench\0obj-\(index)".utf8), version + [UInt8](repeating: 0, count: 64))
                    try! engine.write(commit, sync: true)
                }
                local.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
            }
            return local
        }
        return BenchResult(latenciesMillis: latencies, seconds: Date().timeIntervalSince(start), bytesPerOp: sizeBytes)
    }
}

/// Throughput and latency of one run.
struct BenchResult {
    var latenciesMillis: [Double]
    var seconds: Double
    var bytesPerOp: Int

    var opsPerSecond: Double { Double(latenciesMillis.count) / seconds }
    var mibPerSecond: Double { opsPerSecond * Double(bytesPerOp) / 1_048_576 }

    func percentile(_ p: Double) -> Double {
        guard !latenciesMillis.isEmpty else { return 0 }
        let sorted = latenciesMillis.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    func report(op: String, size: String, concurrency: Int) -> String {
        String(format: "op=%@ size=%@ concurrency=%d ops=%d ops/s=%.1f MiB/s=%.1f p50_ms=%.2f p99_ms=%.2f",
               op, size, concurrency, latenciesMillis.count, opsPerSecond, mibPerSecond, percentile(0.5), percentile(0.99))
    }
}

extension Bench {
    /// Runs `body` on `count` threads of its own (for blocking work) and returns their results, concatenated.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable () -> [Double]) async -> [Double] {
        await withTaskGroup(of: [Double].self) { group in
            for _ in 0..<count {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        Thread.detachNewThread { continuation.resume(returning: body()) }
                    }
                }
            }
            var all = [Double]()
            for await part in group { all += part }
            return all
        }
    }
}
