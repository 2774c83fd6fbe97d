import Admin
import ArgumentParser
import Foundation
import ObjectService

/// `qantara status`: one screen for an operator, from one gateway: each jurisdiction's key store and nodes, each
/// node's holdings and free space, rebalance and repair progress and the refusals this gateway decided since it started.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One screen: jurisdictions, key stores sealed or not, nodes up or down with their space, rebalance and repair, refusals.")

    @OptionGroup var options: AdminOptions

    func run() async throws {
        let client = try await runAdmin { try options.client() }
        let ready = try await runAdmin {
            try await client.call("GET", "health", body: Optional<String>.none, as: Readiness.self)
        }
        let nodes = try await runAdmin {
            try await client.call("GET", "nodes", body: Optional<String>.none, as: [NodeView].self)
        }
        let metrics = (try? await client.unsigned("/metrics")).map { String(decoding: $0.1, as: UTF8.self) } ?? ""
        let samples = PrometheusText.samples(metrics)
        print("Qantara at \(options.endpoint), the gateway of \(ready.gateway): "
            + (ready.ready ? "ready" : "NOT READY (its key store sealed or unreachable, or too few of its nodes up)"))
        print("")
        var rows = [[String]]()
        for state in ready.jurisdictions {
            let mine = nodes.filter { $0.jurisdiction == state.code }
            rows.append([state.code, state.keyStore ?? "-", "\(state.nodesUp ?? 0)/\(state.nodes ?? 0)",
                         String(mine.reduce(0) { $0 + $1.objects }),
                         Self.bytes(mine.compactMap(\.storedBytes).reduce(0, +)),
                         state.ready == true ? "ready" : "NOT READY"])
        }
        printTable(["JURISDICTION", "KEY STORE", "NODES UP", "OBJECTS", "STORED", "STATE"], rows)
        print("")
        printTable(["NODE", "JURISDICTION", "STATE", "OBJECTS", "UPLOADS", "STORED", "FREE"], nodes.map {
            [$0.id, $0.jurisdiction, $0.state, String($0.objects), String($0.uploadsInProgress),
             $0.storedBytes.map(Self.bytes) ?? "-", $0.freeBytes.map(Self.bytes) ?? "-"]
        })
        print("")
        let pending = Int(samples.sum("qantara_repair_pending_nodes"))
        print("nodes down: \(pending) (each gets what it missed from a rebalance pass when it answers again)")
        let rebalances = (try? await client.call("GET", "rebalance", body: Optional<String>.none,
                                                 as: [RebalanceStatus].self)) ?? []
        for status in rebalances { print(RebalanceCommand.line(status)) }
        let refusals = samples.filter { $0.name == "qantara_cross_border_decisions_total" && $0.labels["outcome"] == "refused" }
        let total = Int(refusals.reduce(0) { $0 + $1.value })
        var reasons = [String: Double]()
        for sample in refusals { reasons[sample.labels["reason"] ?? "?", default: 0] += sample.value }
        let detail = reasons.sorted { $0.value > $1.value }.map { "\($0.key) \(Int($0.value))" }.joined(separator: ", ")
        print("cross-border refusals decided by this gateway since it started: \(total)"
            + (detail.isEmpty ? "" : " (\(detail))") + "; each is in the audit log of the data's jurisdiction")
        if !ready.ready { throw ExitCode(3) }
    }

    /// Bytes in binary units, one decimal.
    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// The samples of a Prometheus text exposition (enough of the format for `qantara status`).
struct PrometheusText {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static func samples(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                  let value = Double(line[line.index(after: space)...]) else { return nil }
            let head = line[..<space]
            guard let brace = head.firstIndex(of: "{") else { return Sample(name: String(head), labels: [:], value: value) }
            var labels = [String: String]()
            for pair in head[head.index(after: brace)...].dropLast().split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return Sample(name: String(head[..<brace]), labels: labels, value: value)
        }
    }
}

extension Array where Element == PrometheusText.Sample {
    func sum(_ name: String) -> Double { filter { $0.name == name }.reduce(0) { $0 + $1.value } }
}
