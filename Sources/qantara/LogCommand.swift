import Admin
import ArgumentParser
import Crypto
import Foundation
import Hashing
import ObjectModel
import Sovereignty
import SwiftASN1
import X509

/// `qantara log`: a jurisdiction's audit log as a transparency log (RFC 6962 tree, C2SP checkpoints).
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Checkpoint, export, prove and verify a jurisdiction's audit log (a Merkle-tree transparency log).",
        subcommands: [Checkpoint_.self, Origins.self, Export.self, Verify.self, Prove.self, VerifyProof.self,
                      WitnessKey.self, Witness_.self])

    struct Origins: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every log of the jurisdiction's events its key store checkpoints: origin, size, signing time.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(name: .shortAndLong, help: "Also write the checkpoints (signed notes) into this directory.")
        var output: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let view = try await AuditCommand.fetch(options, jurisdiction)
            var rows = [[String]]()
            if let output { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) }
            for text in view.origins ?? [] {
                guard let note = SignedNote(text), let head = Checkpoint(body: note.text) else { continue }
                rows.append([head.origin, String(head.size),
                             head.timeMillis.map { Timestamps.iso8601(millis: $0) } ?? "-"])
                if let output {
                    try writeOutput(text, to: output + "/" + Base64URL.encode(Array(head.origin.utf8)) + ".checkpoint")
                }
            }
            printTable(["ORIGIN", "SIZE", "SIGNED"], rows)
        }
    }

    struct Checkpoint_: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint",
            abstract: "Have the jurisdiction's authority sign the log's newest tree and print the checkpoint.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let view = try await AuditCommand.fetch(options, jurisdiction)
            if let error = view.checkpointError { throw fail("no new checkpoint: \(error)") }
            guard let latest = view.latest else { throw fail("the key store holds no checkpoint of this log") }
            try writeOutput(latest, to: output)
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the log into a directory: audit.log, audit.checkpoints, latest.checkpoint.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(name: .shortAndLong, help: "Directory to write.") var output: String

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let view = try await AuditCommand.fetch(options, jurisdiction)
            guard let latest = view.latest, let head = SignedNote(latest).flatMap({ Checkpoint(body: $0.text) }) else {
                throw fail("the key store of \(view.jurisdiction) holds no checkpoint of this log"
                    + (view.checkpointError.map { ": \($0)" } ?? ""))
            }
            // The export ends at the latest checkpoint: every entry in it is under a signature (later ones go in the
            // next export).
            let entries = view.entries.prefix(Int(min(head.size, UInt64(view.entries.count))))
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            try writeOutput(entries.map { $0 + "\n" }.joined(), to: output + "/audit.log")
            try writeOutput(view.checkpoints.map { $0 + "\n" }.joined(), to: output + "/audit.checkpoints")
            try writeOutput(latest, to: output + "/latest.checkpoint")
            print("exported \(entries.count) entries of \(head.origin) (through its checkpoint of \(head.size)) and "
                + "\(view.checkpoints.count) checkpoints to \(output)")
            if let error = view.checkpointError {
                FileHandle.standardError.write(Data("warning: no fresh checkpoint: \(error)\n".utf8))
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify an exported log offline: hash chain, Merkle tree, and every checkpoint against the anchor.")
        @Argument(help: "Directory written by `qantara log export`.") var directory: String
        @Option(help: "Trust anchor of the jurisdiction (`qantara trust export`).") var trust: String
        @Option(help: "A checkpoint held from before (repeatable): the log must extend it.") var checkpoint: [String] = []
        @Option(help: "The log's origin, as published with the anchor (qantara/<J>/audit/<G>/<identity>).")
        var origin: String?
        @Option(help: "Fail if the newest checkpoint is older than this (like 1h, 7d).") var maxAge: String?
        @Option(help: "A witness's verifier key file (repeatable): the newest checkpoint must carry its cosignature.")
        var witness: [String] = []
        @Flag(help: "Print the report as JSON.") var json = false

        func validate() throws {
            if let maxAge, GrantCommand.seconds(maxAge) == nil { throw ValidationError("--max-age is like 1h or 7d") }
        }

        func run() async throws {
            let anchor = try await runAdmin { try TrustAnchor.load(trust) }
            let witnesses = try LogCommand.witnessKeys(witness)
            // The export's latest checkpoint is required: without it, a log cut after an older checkpoint would pass.
            var held = [SignedNote]()
            for path in [directory + "/latest.checkpoint"] + checkpoint {
                guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot read \(path)") }
                guard let note = SignedNote(String(decoding: data, as: UTF8.self)) else {
                    throw fail("\(path) is not a signed checkpoint")
                }
                held.append(note)
            }
            let policy = AuditVerifier.Policy(
                origin: origin, requireFullCoverage: true,
                maximumAgeMillis: maxAge.flatMap(GrantCommand.seconds).map { $0 * 1000 },
                nowMillis: Int64(Date().timeIntervalSince1970 * 1000), witnesses: witnesses)
            let report: AuditVerifier.Report
            do {
                report = try AuditVerifier.verify(directory: directory, held: held, policy: policy,
                                                  jurisdiction: anchor.jurisdiction, authorities: anchor.authorities)
            } catch { throw fail("\(error)") }
            try AuditCommand.report(report, jurisdiction: anchor.jurisdiction, json: json)
        }
    }

    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a proof from an exported log: an entry's inclusion, or two checkpoints' consistency.")
        @Option(help: "Directory written by `qantara log export`.") var log: String
        @Option(help: "Prove this entry (its sequence number) is in the latest checkpoint's tree.") var inclusion: UInt64?
        @Option(parsing: .upToNextOption, help: "Prove checkpoint NEW extends checkpoint OLD (two files).")
        var consistency: [String] = []
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

        func validate() throws {
            guard (inclusion != nil) != (consistency.count == 2) else {
                throw ValidationError("give --inclusion ENTRY or --consistency OLD NEW")
            }
        }

        func run() async throws {
            let lines = try AuditLog.readLines(log + "/audit.log")
            var tree = MerkleLevels()
            for line in lines { tree.append(leaf: Array(line.utf8)) }
            let proof: LogProof
            if let seq = inclusion {
                guard let text = FileManager.default.contents(atPath: log + "/latest.checkpoint"),
                      let note = SignedNote(String(decoding: text, as: UTF8.self)),
                      let head = Checkpoint(body: note.text) else {
                    throw fail("\(log)/latest.checkpoint is missing or not a checkpoint")
                }
                guard seq >= 1, seq <= head.size, head.size <= tree.size else {
                    throw fail("entry \(seq) is not in the checkpoint's tree of \(head.size) entries")
                }
                proof = LogProof(kind: .inclusion, entry: lines[Int(seq) - 1], index: seq - 1,
                                 checkpoint: note.serialized,
                                 proof: tree.inclusionProof(index: seq - 1, size: head.size).map { Base64.encode($0) })
            } else {
                var notes = [(SignedNote, Checkpoint)]()
                for path in consistency {
                    guard let text = FileManager.default.contents(atPath: path),
                          let note = SignedNote(String(decoding: text, as: UTF8.self)),
                          let head = Checkpoint(body: note.text) else {
                        throw fail("\(path) is not a signed checkpoint")
                    }
                    notes.append((note, head))
                }
                let (old, new) = (notes[0], notes[1])
                guard old.1.size <= new.1.size, new.1.size <= tree.size else {
                    throw fail("the log holds \(tree.size) entries: no proof from \(old.1.size) to \(new.1.size)")
                }
                proof = LogProof(kind: .consistency, oldCheckpoint: old.0.serialized, checkpoint: new.0.serialized,
                                 proof: tree.consistencyProof(oldSize: old.1.size, newSize: new.1.size).map { Base64.encode($0) })
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeOutput(String(decoding: try encoder.encode(proof), as: UTF8.self) + "\n", to: output)
        }
    }

    struct VerifyProof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-proof", abstract: "Verify a proof file offline against the trust anchor.")
        @Argument(help: "Proof file written by `qantara log prove`.") var file: String
        @Option(help: "Trust anchor of the jurisdiction (`qantara trust export`).") var trust: String

        func run() async throws {
            let anchor = try await runAdmin { try TrustAnchor.load(trust) }
            guard let data = FileManager.default.contents(atPath: file),
                  let proof = try? JSONDecoder().decode(LogProof.self, from: data) else {
                throw fail("\(file) is not a log proof")
            }
            switch proof.verify(keys: anchor.keys) {
            case .success(let statement): print("verified: \(statement)")
            case .failure(let failure): throw fail("proof refused: \(failure.reason)")
            }
        }
    }
}
