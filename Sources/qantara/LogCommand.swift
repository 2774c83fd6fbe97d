import Admin
import ArgumentParser
import Crypto
import Foundation
import Hashing
import ObjectModel
import Sovereignty
import SwiftASN1
import X509

/// A jurisdiction's published trust anchor, as `qantara trust export` writes it: the self-signed X.509 certificates
/// of its authority keys (PEM, subject `C=<J>, O=Qantara, CN=<J>-authority-v<N>`), or the same keys as note verifier
/// keys (`<J>-authority-v<N>+<key ID>+<base64 key>`, one a line; `#` starts a comment).
struct TrustAnchor {
    var jurisdiction: Jurisdiction
    var keys: [NoteKey]

    var authorities: Sovereignty.Authorities {
        var map = Sovereignty.Authorities()
        for key in keys { map[key.name] = (jurisdiction, key.publicKey) }
        return map
    }

    static func jurisdiction(ofKeyName name: String) -> Jurisdiction? {
        guard let dash = name.firstIndex(of: "-"), name[dash...].hasPrefix("-authority-v") else { return nil }
        return Jurisdiction(String(name[..<dash]))
    }

    static func load(_ path: String) throws -> TrustAnchor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AdminClient.Failure(description: "cannot read the trust anchor \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        if text.contains("-----BEGIN CERTIFICATE-----") { return try certificates(text, path: path) }
        var keys = [NoteKey]()
        var jurisdiction: Jurisdiction?
        for (number, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            guard let key = NoteKey(verifierKey: line), key.kind == .ed25519,
                  let owner = Self.jurisdiction(ofKeyName: key.name) else {
                throw AdminClient.Failure(description: "\(path) line \(number + 1): not an authority's verifier key")
            }
            guard jurisdiction == nil || jurisdiction == owner else {
                throw AdminClient.Failure(description: "\(path) holds keys of \(jurisdiction!) and \(owner)")
            }
            jurisdiction = owner
            keys.append(key)
        }
        guard let jurisdiction else { throw AdminClient.Failure(description: "\(path) holds no authority key") }
        return TrustAnchor(jurisdiction: jurisdiction, keys: keys)
    }

    /// The anchor of PEM authority certificates: each must be a valid, self-signed CA certificate of one jurisdiction
    /// (its `C`), naming its key (`CN`), with an Ed25519 key.
    static func certificates(_ text: String, path: String, now: Date = Date()) throws -> TrustAnchor {
        let documents: [PEMDocument]
        do { documents = try PEMDocument.parseMultiple(pemString: text) } catch {
            throw AdminClient.Failure(description: "\(path) is not PEM: \(error)")
        }
        var keys = [NoteKey]()
        var jurisdiction: Jurisdiction?
        for (index, document) in documents.enumerated() where document.discriminator == "CERTIFICATE" {
            let place = "\(path) certificate \(index + 1)"
            guard let certificate = try? Certificate(derEncoded: document.derBytes) else {
                throw AdminClient.Failure(description: "\(place): not an X.509 certificate")
            }
            var country: String?, name: String?
            for rdn in certificate.subject {
                for attribute in rdn {
                    if attribute.type == .RDNAttributeType.countryName { country = attribute.value.description }
                    if attribute.type == .RDNAttributeType.commonName { name = attribute.value.description }
                }
            }
            guard certificate.issuer == certificate.subject,
                  certificate.publicKey.isValidSignature(certificate.signature, for: certificate),
                  (try? certificate.extensions.basicConstraints) == .isCertificateAuthority(maxPathLength: 1) else {
                throw AdminClient.Failure(description: "\(place): not a self-signed authority certificate")
            }
            guard let country, let owner = Jurisdiction(country), let name,
                  Self.jurisdiction(ofKeyName: name) == owner,
                  let publicKey = Curve25519.Signing.PublicKey(certificate.publicKey) else {
                throw AdminClient.Failure(description: "\(place): not a Qantara authority (C=<J>, CN=<J>-authority-vN, Ed25519)")
            }
            guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else {
                throw AdminClient.Failure(description: "\(place): outside its validity (\(certificate.notValidBefore) "
                    + "to \(certificate.notValidAfter))")
            }
            guard jurisdiction == nil || jurisdiction == owner else {
                throw AdminClient.Failure(description: "\(path) holds authorities of \(jurisdiction!) and \(owner)")
            }
            jurisdiction = owner
            keys.append(NoteKey(name: name, publicKey: Array(publicKey.rawRepresentation)))
        }
        guard let jurisdiction else { throw AdminClient.Failure(description: "\(path) holds no certificate") }
        return TrustAnchor(jurisdiction: jurisdiction, keys: keys)
    }

    /// The anchor's text for J's published authority keys.
    static func text(_ jurisdiction: Jurisdiction, _ keys: [AuthorityKeyView]) throws -> String {
        var text = "# Trust anchor of \(jurisdiction): the note verifier keys of its authority (qantara trust export)\n"
        for key in keys {
            guard let bytes = Base64.decode(key.publicKey), bytes.count == Ed25519.publicKeySizeBytes else {
                throw AdminClient.Failure(description: "the gateway sent a malformed authority key \(key.kid)")
            }
            text += NoteKey(name: key.kid, publicKey: bytes).verifierKey + "\n"
        }
        return text
    }
}

/// `qantara trust`: what a regulator holds to verify a jurisdiction's signatures.
struct TrustCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust", abstract: "A jurisdiction's certificate authority: export its anchor, certify its nodes.",
        subcommands: [Export.self, Certify.self, Revoke.self, Revocations.self])

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a certificate the jurisdiction's authority issued (a node's), and print the signed list.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(help: "The certificate to revoke (PEM).") var certificate: String
        @Option(help: "Why (one line).") var reason: String
        @Option(name: .shortAndLong, help: "Output file for the revocation list (default: standard output).")
        var output: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: certificate),
                  let parsed = try? Certificate(pemEncoded: String(decoding: data, as: UTF8.self)) else {
                throw fail("\(certificate) is not a PEM certificate")
            }
            let serial = Hex.encode(Array(parsed.serialNumber.bytes))
            let answer = try await options.run(try jurisdictionArgument(jurisdiction),
                                               .revokeCertificate(serial: serial, reason: reason))
            guard let list = answer.revocations else { throw fail("the gateway sent no revocation list") }
            try writeOutput(list, to: output)
        }
    }

    struct Revocations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The jurisdiction's signed list of revoked certificates, for `qantara verify --revocations`.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let answer = try await options.run(try jurisdictionArgument(jurisdiction), .listRevocations)
            guard let list = answer.revocations else { throw fail("the gateway sent no revocation list") }
            try writeOutput(list, to: output)
        }
    }

    struct Certify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Certify a storage node of the jurisdiction from its request (`qantara node enrol`).")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(help: "The node's certificate request (PEM).") var csr: String
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: csr) else { throw fail("cannot read \(csr)") }
            let code = try jurisdictionArgument(jurisdiction)
            let answer = try await options.run(code, .certifyNode(csr: String(decoding: data, as: UTF8.self)))
            // Certifying a node needs a second administrator: the certificate comes with the approval.
            if reportPending(answer, jurisdiction: code) { return }
            guard let certificate = answer.certificate else { throw fail("the gateway sent no certificate") }
            try writeOutput(certificate, to: output)
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the jurisdiction's trust anchor, the file a regulator holds: its authority's self-signed "
                + "X.509 certificates (PEM), or with --format vkey its note verifier keys.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(help: "pem (X.509 certificates) or vkey (C2SP note verifier keys).") var format: String = "pem"
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

        func validate() throws {
            try KeyCommand.check(jurisdiction)
            guard ["pem", "vkey"].contains(format) else { throw ValidationError("--format must be pem or vkey") }
        }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            let view = try await AuditCommand.fetch(options, jurisdiction)
            let text: String
            if format == "vkey" {
                text = try await runAdmin { try TrustAnchor.text(code, view.authorities) }
            } else {
                let certificates = view.authorities.compactMap(\.certificate)
                guard !certificates.isEmpty, certificates.count == view.authorities.count else {
                    throw fail("the key store of \(code) sent no authority certificate (an older version?)")
                }
                text = certificates.map { $0.hasSuffix("\n") ? $0 : $0 + "\n" }.joined()
            }
            try writeOutput(text, to: output)
        }
    }
}

func writeOutput(_ text: String, to path: String?) throws {
    guard let path else {
        print(text, terminator: "")
        return
    }
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
        FileHandle.standardError.write(Data("error: cannot write \(path)\n".utf8))
        throw ExitCode(1)
    }
}

func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(1)
}

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
            let witnesses = try witness.map { path in
                guard let data = FileManager.default.contents(atPath: path),
                      let key = NoteKey(verifierKey: String(decoding: data, as: UTF8.self)
                        .trimmingCharacters(in: .whitespacesAndNewlines)), key.kind == .cosignature else {
                    throw fail("\(path) is not a witness's verifier key")
                }
                return key
            }
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

    struct WitnessKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "witness-key", abstract: "Make a witness's Ed25519 key: FILE (secret) and FILE.vkey (to publish).")
        @Option(help: "The witness's name, e.g. dpa.example/witness.") var name: String
        @Option(name: .shortAndLong, help: "Key file to write (0600).") var output: String

        func validate() throws {
            guard Checkpoint.isValidName(name) else {
                throw ValidationError("--name must be printable ASCII without spaces or '+'")
            }
        }

        func run() async throws {
            guard !FileManager.default.fileExists(atPath: output) else { throw fail("\(output) exists: not overwritten") }
            let pair = Ed25519.KeyPair.generate()
            var secret = pair.exportSecret()
            defer { for index in secret.indices { secret[index] = 0 } }
            let file = WitnessKeyFile(name: name, secretKey: Base64.encode(secret))
            guard FileManager.default.createFile(atPath: output, contents: try JSONEncoder().encode(file),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw fail("cannot write \(output)")
            }
            let key = NoteKey(name: name, publicKey: pair.publicKey, kind: .cosignature)
            try writeOutput(key.verifierKey + "\n", to: output + ".vkey")
            print("witness key \(name) written to \(output); publish \(output).vkey")
        }
    }

    struct WitnessKeyFile: Codable {
        var name: String
        var secretKey: String
    }

    struct Witness_: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "witness",
            abstract: "Cosign a checkpoint as a witness, if it extends the last one this witness cosigned of its log.")
        @Option(help: "The checkpoint to cosign (a signed note).") var checkpointFile: String
        @Option(help: "Trust anchor of the log's jurisdiction.") var trust: String
        @Option(help: "The witness's key file (`qantara log witness-key`).") var key: String
        @Option(help: "Directory where the witness keeps the last checkpoint it cosigned of each log.") var state: String
        @Option(help: "Consistency proof (`qantara log prove --consistency HELD NEW`) from the checkpoint held.")
        var proof: String?
        @Option(name: .shortAndLong, help: "Output file for the cosigned checkpoint (default: standard output).")
        var output: String?

        func run() async throws {
            let anchor = try await runAdmin { try TrustAnchor.load(trust) }
            guard let keyData = FileManager.default.contents(atPath: key),
                  let file = try? JSONDecoder().decode(WitnessKeyFile.self, from: keyData),
                  var secret = Base64.decode(file.secretKey), secret.count == 64 else {
                throw fail("\(key) is not a witness key file")
            }
            let pair = Ed25519.KeyPair(secretKeyBytes: secret)
            for index in secret.indices { secret[index] = 0 }
            let witness = NoteKey(name: file.name, publicKey: pair.publicKey, kind: .cosignature)
            guard let text = FileManager.default.contents(atPath: checkpointFile),
                  let note = SignedNote(String(decoding: text, as: UTF8.self)),
                  let claimed = Checkpoint(body: note.text) else {
                throw fail("\(checkpointFile) is not a signed checkpoint")
            }
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            let heldPath = state + "/" + Base64URL.encode(Array(claimed.origin.utf8)) + ".checkpoint"
            var held: Checkpoint?
            if let data = FileManager.default.contents(atPath: heldPath) {
                // A held checkpoint that does not read is a failure, never a fresh start without proof.
                guard let checkpoint = SignedNote(String(decoding: data, as: UTF8.self))
                    .flatMap({ Checkpoint(body: $0.text) }) else {
                    throw fail("\(heldPath) is not a checkpoint: the witness's state is damaged")
                }
                held = checkpoint
            }
            var hashes = [[UInt8]]()
            if let proof {
                guard let data = FileManager.default.contents(atPath: proof),
                      let parsed = try? JSONDecoder().decode(LogProof.self, from: data), parsed.kind == .consistency else {
                    throw fail("\(proof) is not a consistency proof")
                }
                hashes = try parsed.proof.map { hash in
                    guard let bytes = Base64.decode(hash), bytes.count == MerkleTree.hashSize else {
                        throw fail("\(proof) holds a malformed hash")
                    }
                    return bytes
                }
            }
            let time = UInt64(Date().timeIntervalSince1970)
            switch Witness.cosign(note, logKeys: anchor.keys, held: held, proof: hashes, key: witness, pair: pair,
                                  time: time) {
            case .failure(let failure):
                throw fail("not cosigned: \(failure.reason)")
            case .success(let (cosigned, checkpoint)):
                try writeOutput(cosigned.serialized, to: heldPath)
                try writeOutput(cosigned.serialized, to: output)
                FileHandle.standardError.write(Data(("cosigned \(checkpoint.origin) at \(checkpoint.size) entries as "
                    + "\(witness.name)\n").utf8))
            }
        }
    }
}
