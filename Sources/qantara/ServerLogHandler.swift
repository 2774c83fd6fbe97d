import Foundation
import Logging
import Synchronization

/// The server processes' log handler, on standard error: swift-log's `StreamLogHandler` lines (`text`), or one JSON
/// object per line for log shippers (`json`: `time`, `level`, `label`, `message`, `source`, and the metadata as
/// strings). Metadata is kept as it is and formatted only when a line is written: `StreamLogHandler` formats all of
/// its metadata into a string each time a key is set, and Hummingbird sets one on every request.
struct ServerLogHandler: LogHandler {
    enum Format: String, CaseIterable, Sendable {
        case text, json
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level = .info
    var metadata = Logger.Metadata()
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        switch format {
        case .text:
            var stream = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
            stream.logLevel = logLevel
            stream.metadata = metadata
            stream.log(event: event)
        case .json:
            var merged = metadataProvider?.get() ?? [:]
            merged.merge(metadata) { $1 }
            if let extra = event.metadata { merged.merge(extra) { $1 } }
            FileHandle.standardError.write(Data(Self.jsonLine(event, label: label, metadata: merged).utf8))
        }
    }

    /// One JSON object and a newline.
    static func jsonLine(_ event: LogEvent, label: String, metadata: Logger.Metadata) -> String {
        var fields: [String: String] = [
            "time": timestamp(), "level": event.level.rawValue, "label": label, "message": "\(event.message)",
            "source": event.source,
        ]
        for (key, value) in metadata where fields[key] == nil { fields[key] = "\(value)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(fields)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }

    private static let installed = Atomic<Bool>(false)

    /// Makes this the handler of every logger created from now on, once per process (later calls do nothing); the
    /// format is `format`, else `QANTARA_LOG_FORMAT`, else text.
    static func install(format: Format? = nil) {
        guard !installed.exchange(true, ordering: .relaxed) else { return }
        let chosen = format ?? ProcessInfo.processInfo.environment["QANTARA_LOG_FORMAT"].flatMap(Format.init) ?? .text
        LoggingSystem.bootstrap({ ServerLogHandler(label: $0, format: chosen, metadataProvider: $1) },
                                metadataProvider: nil)
    }
}
