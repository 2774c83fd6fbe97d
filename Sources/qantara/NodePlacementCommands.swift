import Admin
import ArgumentParser
import Foundation
import ObjectModel
import ObjectService

/// `qantara node add | drain | remove | replicas | rebalance`: placement changes through the gateway's admin API, with
/// the root credentials. Each change is followed by a rebalance pass that moves data within the jurisdiction only.
extension NodeCommand {
    struct Add: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a storage node to a jurisdiction (node add --jurisdiction J --id ID [--address HOST:PORT]); "
                + "the objects it is now a preferred replica of move to it.",
            discussion: """
                Without --address the node runs inside the gateway's process (qantara serve), under DATA/nodes/ID; \
                with it, the node is a `qantara node` process of that jurisdiction, which must answer. Placement \
                changes at once: new writes go to the new node, and the rebalance copies it the objects it is now a \
                preferred replica of (qantara node rebalance --status shows how far it got).
                """)
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Option(help: "host:port of a `qantara node` process; absent: a node in the gateway's process.") var address: String?
        @Option(help: "The node's site (data centre).") var site: String?

        func run() async throws {
            guard let id = parent.id, let jurisdiction = parent.jurisdiction else {
                throw ValidationError("--jurisdiction and --id are required: qantara node add --jurisdiction J --id ID")
            }
            let view = try await runAdmin {
                try await options.client().call("POST", "nodes", body: AddNodeBody(
                    jurisdiction: jurisdiction, id: id, address: address, site: site), as: PlacementView.self)
            }
            print("node \(id) added to \(view.jurisdiction) (placement epoch \(view.epoch)); the rebalance moves its "
                + "objects to it: qantara node rebalance --status")
        }
    }

    struct Drain: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drain a storage node: it takes no new placements, and the rebalance moves what it holds to the "
                + "other nodes of its jurisdiction (then qantara node remove ID).")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Argument(help: "Node id.") var node: String

        func run() async throws {
            let view = try await runAdmin {
                try await options.client().call("POST", "nodes/\(node)/drain", body: Optional<String>.none,
                                                as: PlacementView.self)
            }
            print("node \(node) of \(view.jurisdiction) is draining; qantara node rebalance --status shows what it "
                + "still holds")
        }
    }

    struct Remove: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a drained storage node from the topology (--force: a node that is lost; its objects' "
                + "other replicas are copied to make up for it).")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Argument(help: "Node id.") var node: String
        @Flag(help: "Remove the node even though it is not drained (a lost disk or host).") var force = false

        func run() async throws {
            let view = try await runAdmin {
                try await options.client().call("DELETE", "nodes/\(node)", query: force ? [("force", "1")] : [],
                                                body: Optional<String>.none, as: PlacementView.self)
            }
            print("node \(node) removed from \(view.jurisdiction); its nodes: \(view.nodes.joined(separator: ", "))"
                + (force ? " (the rebalance copies again what only it held a replica of)" : ""))
        }
    }

    struct Replicas: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the replicas per object of a jurisdiction (node replicas --jurisdiction J N); the rebalance "
                + "makes the missing copies, or drops the extra ones.")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Argument(help: "Replicas per object.") var factor: Int

        func run() async throws {
            guard let jurisdiction = parent.jurisdiction else {
                throw ValidationError("--jurisdiction is required: qantara node replicas --jurisdiction J N")
            }
            let view = try await runAdmin {
                try await options.client().call("PUT", "jurisdictions/\(jurisdiction)/replicas",
                                                body: ReplicasBody(factor: factor), as: PlacementView.self)
            }
            print("\(view.jurisdiction): \(view.replicas) replicas per object; the rebalance makes the copies: "
                + "qantara node rebalance --status")
        }
    }
}

/// `qantara node rebalance`: start a pass now, or show how far each jurisdiction's went.
struct RebalanceCommand: AsyncParsableCommand, NodeAdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance",
        abstract: "Start a rebalance pass now (--status: only show each jurisdiction's progress; --wait: start one and "
            + "show progress until it is done).")
    @OptionGroup var endpoint: EndpointOption
    @ParentCommand var parent: NodeCommand
    @Flag(help: "Show progress only.") var status = false
    @Flag(help: "Start a pass, then show progress until no pass runs, is due or is retried, and draining nodes are empty.")
    var wait = false
    @Option(help: "Seconds --wait waits at most.") var timeout: Int = 3600

    func run() async throws {
        let client = try await runAdmin { try options.client() }
        let query = parent.jurisdiction.map { [("jurisdiction", $0)] } ?? []
        // --wait starts a pass too, and waits for it; --status only looks.
        var statuses = try await runAdmin {
            status
                ? try await client.call("GET", "rebalance", body: Optional<String>.none, as: [RebalanceStatus].self)
                : try await client.call("POST", "rebalance", query: query, body: Optional<String>.none,
                                        as: [RebalanceStatus].self)
        }
        let chosen = { (all: [RebalanceStatus]) in all.filter { parent.jurisdiction == nil || $0.jurisdiction == parent.jurisdiction } }
        guard !chosen(statuses).isEmpty else {
            FileHandle.standardError.write(Data("error: this gateway rebalances none of the jurisdictions asked for\n".utf8))
            throw ExitCode(1)
        }
        guard wait else {
            for line in chosen(statuses).map(Self.line) { print(line) }
            return
        }
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while true {
            let shown = chosen(statuses)
            let done = shown.allSatisfy { $0.state == "idle" && $0.draining.allSatisfy { $0.objects == 0 } && $0.settled }
            for line in shown.map(Self.line) { print(line) }
            if done { return }
            guard Date() < deadline else {
                FileHandle.standardError.write(Data("error: the rebalance did not finish within \(timeout) s\n".utf8))
                throw ExitCode(1)
            }
            try await Task.sleep(for: .seconds(1))
            statuses = try await runAdmin {
                try await client.call("GET", "rebalance", body: Optional<String>.none, as: [RebalanceStatus].self)
            }
        }
    }

    /// One line per jurisdiction: state, a progress bar of the pass, what it moved, what draining nodes still hold.
    static func line(_ status: RebalanceStatus) -> String {
        let checked = status.tally.scanned + status.tally.summarized
        let fraction = status.estimate > 0 ? min(1, Double(checked) / Double(status.estimate))
            : (status.state == "running" ? 0 : 1)
        let width = 20, filled = Int((fraction * Double(width)).rounded(.down))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        var text = "rebalance \(status.jurisdiction): \(status.state) \(bar) \(Int(fraction * 100))%  "
            + "scanned \(status.tally.scanned), summarized \(status.tally.summarized), copied \(status.tally.copied) "
            + "(\(StatusCommand.bytes(status.tally.bytesMoved))), dropped \(status.tally.dropped), "
            + "tombstones collected \(status.tally.collected), failed \(status.tally.failed); "
            + "\(status.replicas) replicas" + (status.settled ? "" : " (being made)")
        if !status.draining.isEmpty {
            text += "; draining: " + status.draining.map { "\($0.node) (\($0.objects.map(String.init) ?? "?") left)" }
                .joined(separator: ", ")
        }
        return text
    }
}
