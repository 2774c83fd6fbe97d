import ArgumentParser
import Foundation
import Hashing
import SigV4
import Synchronization

/// The requests of an HTTP run, whatever the client sends them with: which operation comes next, and its signed
/// headers (SigV4 with `UNSIGNED-PAYLOAD` for bodies).
struct BenchRequests: Sendable {
    struct Operation: Sendable {
        let method: String
        let path: String
        let withBody: Bool
    }

    private let hostHeader: String
    private let signer: SigV4Signer
    private let bodyBytes: Int
    private let op: String
    private let bucket: String
    private let objects: Int

    init(_ bench: Bench) throws {
        guard let url = URL(string: bench.endpoint), let host = url.host else {
            throw ValidationError("invalid --endpoint")
        }
        hostHeader = url.port.map { "\(host):\($0)" } ?? host
        signer = SigV4Signer(accessKeyID: bench.accessKey, secret: bench.secretKey)
        (bodyBytes, op, bucket, objects) = (bench.sizeBytes, bench.op, bench.bucket, bench.objects)
    }

    /// Creates the bucket (it may exist already).
    var createBucket: Operation { Operation(method: "PUT", path: "/\(bucket)", withBody: false) }

    /// The objects GETs read, written before the run (none for a PUT run).
    var objectPuts: [Operation] {
        op == "put" ? [] : (0..<objects).map { Operation(method: "PUT", path: "/\(bucket)/obj-\($0)", withBody: true) }
    }

    /// Operation number `index` of the run: a PUT of one of 1024 keys or a GET of one of the `objects` (alternately
    /// for a mixed run).
    func operation(_ index: Int) -> Operation {
        if op == "put" || (op == "mixed" && index % 2 == 0) {
            return Operation(method: "PUT", path: "/\(bucket)/put-\(index % 1024)", withBody: true)
        }
        return Operation(method: "GET", path: "/\(bucket)/obj-\(index % objects)", withBody: false)
    }

    /// The head of `operation` as sent: request line; host, content-length for a body, then the signature's headers.
    func head(_ operation: Operation) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(512)
        out += operation.method.utf8
        out.append(0x20)
        out += operation.path.utf8
        out += " HTTP/1.1\r\n".utf8
        let framing = framingHeaders(operation)
        for (name, value) in framing + signature(operation, over: framing).map({ (name: $0.0, value: $0.1) }) {
            out += name.utf8
            out += ": ".utf8
            out += value.utf8
            out += "\r\n".utf8
        }
        out += "\r\n".utf8
        return out
    }

    /// The signature's headers (`x-amz-date`, `x-amz-content-sha256`, `authorization`), over the framing headers.
    /// A body is sent `UNSIGNED-PAYLOAD`; a request without one signs the empty payload's digest (a CreateBucket's
    /// empty body says something too: the default jurisdiction).
    func signature(_ operation: Operation, over framing: [(name: String, value: String)]) -> [(String, String)] {
        signer.sign(SignableRequest(method: operation.method, rawPath: operation.path, rawQuery: "",
                                    headers: framing),
                    payloadHash: operation.withBody ? "UNSIGNED-PAYLOAD" : Canonical.emptySHA256,
                    nowSeconds: Int64(Date().timeIntervalSince1970))
    }

    /// The headers HTTP clients set themselves (host, content-length), which the signature covers.
    func framingHeaders(_ operation: Operation) -> [(name: String, value: String)] {
        [(name: "host", value: hostHeader)]
            + (operation.withBody ? [(name: "content-length", value: String(bodyBytes))] : [])
    }
}

/// The first error of concurrent workers.
final class FirstFailure: Sendable {
    private let first = Mutex<(any Error)?>(nil)
    var error: (any Error)? { first.withLock { $0 } }
    func record(_ error: any Error) { first.withLock { $0 = $0 ?? error } }
}

/// A shared operation counter.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.add(1, ordering: .relaxed).newValue }
}
