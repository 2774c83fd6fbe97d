import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService

/// The operator's endpoints on every gateway port: `GET /health/live`, `GET /health/ready` (JSON, 503 until the
/// gateway's key store is unsealed and enough of its nodes answer) and `GET /metrics` (Prometheus text; unless
/// `--metrics-listen` puts it on an address of its own). They answer only unsigned GET and HEAD requests: Qantara has
/// no anonymous S3 access, so a signed request to a bucket named `health` or `metrics` still reaches that bucket.
struct OperationsEndpoints: Sendable {
    let service: ObjectService
    let jurisdiction: Jurisdiction
    /// The registry to expose on `/metrics`, or nil when metrics are served elsewhere.
    let metrics: GatewayMetrics?

    func respond(to request: Request) async -> Response? {
        guard request.method == .get || request.method == .head, Self.isUnsigned(request) else { return nil }
        switch request.uri.path {
        case "/health/live":
            return json(.ok, Array(#"{"status":"live"}"#.utf8), head: request.method == .head)
        case "/health/ready":
            let readiness = await service.publicReadiness(gateway: jurisdiction)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let body = (try? encoder.encode(readiness)).map(Array.init) ?? []
            return json(readiness.ready ? .ok : .serviceUnavailable, body, head: request.method == .head)
        case "/metrics":
            return metrics?.response(head: request.method == .head)
        default:
            return nil
        }
    }

    private func json(_ status: HTTPResponse.Status, _ body: [UInt8], head: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(body.count)
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers,
                        body: head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// No SigV4 in the headers or the query.
    static func isUnsigned(_ request: Request) -> Bool {
        guard request.headers[.authorization] == nil else { return false }
        let query = request.uri.query ?? ""
        return !query.contains("X-Amz-Signature") && !query.contains("X-Amz-Credential")
            && !query.contains("Signature=")
    }
}

/// `--metrics-listen`: `/metrics` alone, on an address of its own (an operators' network), and nothing else.
struct MetricsResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let metrics: GatewayMetrics

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .get || request.method == .head, request.uri.path == "/metrics" else {
            return Response(status: .notFound)
        }
        return metrics.response(head: request.method == .head)
    }
}
