import Metrics
import ObjectModel

/// The S3 front's metrics, one record per request: count by operation, status and gateway; latency; bytes in and out
/// (as the request and response declare them: a streamed body counts its `Content-Length`).
enum RequestMetrics {
    static func record(operation: String, status: Int, gateway: Jurisdiction, duration: Duration, bytesIn: Int64,
                       bytesOut: Int64) {
        let where_ = ("jurisdiction", gateway.code)
        Counter(label: "qantara_s3_requests_total",
                dimensions: [("operation", operation), ("status", String(status)), where_]).increment()
        Timer(label: "qantara_s3_request_duration_seconds", dimensions: [("operation", operation), where_])
            .recordNanoseconds(duration.nanoseconds)
        if bytesIn > 0 {
            Counter(label: "qantara_s3_received_bytes_total", dimensions: [("operation", operation), where_])
                .increment(by: bytesIn)
        }
        if bytesOut > 0 {
            Counter(label: "qantara_s3_sent_bytes_total", dimensions: [("operation", operation), where_])
                .increment(by: bytesOut)
        }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
    }
}
