import CoreMetrics
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Synchronization

/// The process's metrics registry, exposed on every gateway port's `/metrics` in Prometheus text format. The library
/// modules record through swift-metrics; this registry, installed once as the metrics system's factory, keeps them.
struct GatewayMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    private static let installed = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The registry, installed as the metrics system's factory on first use (the system takes one factory per
    /// process).
    static func shared() -> GatewayMetrics {
        installed.withLock { registry in
            if let registry { return GatewayMetrics(registry: registry) }
            let made = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: made)
            // Latency buckets from 1 ms to 30 s: small requests on loopback up to multi-gigabyte transfers.
            factory.defaultDurationHistogramBuckets = [
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
            ]
            MetricsSystem.bootstrap(factory)
            registry = made
            return GatewayMetrics(registry: made)
        }
    }

    /// The text exposition (format 0.0.4).
    func exposition() -> String { registry.emitToString() }

    /// `/metrics`' answer: the exposition, or its head alone for a HEAD.
    func response(head: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        let text = exposition()
        headers[.contentLength] = String(text.utf8.count)
        return Response(status: .ok, headers: headers,
                        body: head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
