import Admin
import ArgumentParser
import Crypto
import Foundation
import Hashing
import ObjectModel
import Sovereignty
import SwiftASN1
import X509

/// `qantara log witness-key | witness`: a third party co-signing a jurisdiction's checkpoints.
extension LogCommand {
    /// Witnesses' verifier key files (`qantara log witness-key` writes them), read.
    static func witnessKeys(_ paths: [String]) throws -> [NoteKey] {
        try paths.map { path in
            guard let data = FileManager.default.contents(atPath: path),
                  let key = NoteKey(verifierKey: String(decoding: data, as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)), key.kind == .cosignature else {
                throw fail("\(path) is not a witness's verifier key")
            }
            return key
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
