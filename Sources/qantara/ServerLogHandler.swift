import Logging
import Synchronization

/// The server processes' log handler: swift-log's `StreamLogHandler` output on standard error, line for line, without
/// its cost per metadata change. `StreamLogHandler` formats all of its metadata into a string each time a key is
/// set, and Hummingbird sets one on every request (`hb.request.id`, on a copy of the server's logger), so every
/// request paid for formatting a log line that is almost never written: 2–3% of a small request's CPU here. This
/// handler keeps the metadata as it is and formats it only when a line is written.
struct ServerLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata = Logger.Metadata()
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var stream = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        stream.logLevel = logLevel
        stream.metadata = metadata
        stream.log(event: event)
    }

    private static let installed = Atomic<Bool>(false)

    /// Makes this the handler of every logger created from now on, once per process (later calls do nothing).
    static func install() {
        guard !installed.exchange(true, ordering: .relaxed) else { return }
        LoggingSystem.bootstrap({ ServerLogHandler(label: $0, metadataProvider: $1) }, metadataProvider: nil)
    }
}
