import StorageNode

/// The scrubber's pace, from `QANTARA_SCRUB_RATE`: bytes per second (`64M`, `512K` and plain numbers accepted),
/// `off`, or unset for the default (a full pass a week, ``LocalStorageNode/scrubFloorBytesPerSecond`` at least).
enum ScrubRate {
    static func start(_ node: LocalStorageNode, environment: [String: String]) {
        guard let text = environment["QANTARA_SCRUB_RATE"], !text.isEmpty else {
            node.startScrubbing(bytesPerSecond: nil)
            return
        }
        guard text.lowercased() != "off" else { return }
        node.startScrubbing(bytesPerSecond: parse(text) ?? LocalStorageNode.scrubFloorBytesPerSecond)
    }

    static func parse(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024]
        var digits = Substring(text)
        var scale: Int64 = 1
        if let last = text.last?.uppercased().first, let unit = units[last] {
            scale = unit
            digits = text.dropLast()
        }
        guard let value = Int64(digits), value > 0 else { return nil }
        return value.multipliedReportingOverflow(by: scale).overflow ? nil : value * scale
    }
}
