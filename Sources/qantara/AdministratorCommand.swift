import Admin
import ArgumentParser
import Envelope
import Foundation
import Hashing
import KeyStore
import ObjectModel

/// `qantara admin`: a jurisdiction's administrators, the identities that act as its authority.
struct AdministratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin", abstract: "A jurisdiction's administrators and how many must approve its irreversible acts.",
        subcommands: [Keygen.self, Create.self, Enrol.self, List.self, Quorum.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an administrator of a jurisdiction (needs a quorum of approvals); its credentials are sealed to the enrolment key it made with `qantara admin keygen`, so only it can open them.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Option(help: "A name for the new administrator (a person or a role).") var name: String
        @Option(help: "The new administrator's enrolment key: its public key (base64), or the .pub file `admin keygen` wrote.")
        var enrolmentKey: String
        @Option(help: "Where to write the sealed enrolment if it is issued now (else it is printed).") var out: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            let key = try await runAdmin { try EnrolmentKeyFile.publicKey(enrolmentKey) }
            let answer = try await options.run(code, .createAdministrator(name: name, enrolmentKey: key))
            if reportPending(answer, jurisdiction: code) { return }
            try await runAdmin { try saveEnrolment(answer, to: out) }
        }
    }

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an enrolment key pair for a future administrator (run by that person): the key pair stays in the file, its public half (also in FILE.pub) is given to `admin create`.")
        @Option(help: "Where to write the key pair (mode 0600); the public key goes to the same name plus .pub.") var out: String

        func run() async throws {
            let pair = SealedBox.KeyPair.generate()
            try await runAdmin { try EnrolmentKeyFile.write(pair, to: out) }
            print("public key in \(out).pub (give it, or the key below, to an administrator; \(out) stays with you)")
            print("enrolment key \(Base64.encode(pair.publicKey))")
            print("fingerprint \(SealedBox.fingerprint(pair.publicKey)) (the approvers compare it with what "
                + "`qantara approvals` shows)")
        }
    }

    struct Enrol: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open the credentials an approved `admin create` sealed to your enrolment key, and write them as an administrator credentials file.")
        @Option(help: "The sealed enrolment (the file `admin create --out` or `approve --out` wrote).") var enrolment: String
        @Option(help: "Your enrolment key pair (the file `admin keygen` wrote).") var key: String
        @Option(help: "Where to write the administrator credentials (mode 0600).") var out: String

        func run() async throws {
            try await runAdmin {
                guard let data = FileManager.default.contents(atPath: enrolment),
                      let sealed = try? JSONDecoder().decode(AdministratorEnrolment.self, from: data) else {
                    throw AdminClient.Failure(description: "\(enrolment) is not a sealed enrolment")
                }
                let pair = try EnrolmentKeyFile.read(key)
                guard let credentials = try? sealed.open(with: pair) else {
                    throw AdminClient.Failure(description: "\(enrolment) was not sealed to the key in \(key)")
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try writePrivate(try encoder.encode(credentials), to: out)
                print("administrator \(credentials.name) of \(credentials.jurisdiction): \(credentials.accessKeyId), "
                    + "credentials in \(out)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a jurisdiction's administrators.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let answer = try await options.run(try jurisdictionArgument(jurisdiction), .listAdministrators)
            printTable(["ADMINISTRATOR", "NAME", "CREATED"],
                       (answer.administrators ?? []).map { [$0.id, $0.name, $0.created] })
        }
    }

    struct Quorum: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set how many distinct administrators must approve an irreversible act (itself approved by the current quorum).")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Argument(help: "Approvals needed, 1 to the number of administrators.") var quorum: Int

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            let answer = try await options.run(code, .setQuorum(quorum))
            if reportPending(answer, jurisdiction: code) { return }
            print("\(code) now needs \(answer.quorum ?? quorum) administrator(s) for its irreversible acts")
        }
    }
}

/// Writes a new administrator's sealed enrolment to `path`, or prints it: only the holder of its enrolment key opens
/// it (`qantara admin enrol`).
func saveEnrolment(_ answer: AuthorityAnswerView, to path: String?) throws {
    guard let enrolment = answer.enrolment else { return }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(enrolment)
    if let path {
        try writePrivate(data, to: path)
        print("administrator \(enrolment.name) of \(enrolment.jurisdiction): \(enrolment.accessKeyId), sealed to key "
            + "\(enrolment.fingerprint), in \(path): give it to that administrator (`qantara admin enrol`)")
    } else {
        print("administrator \(enrolment.name) of \(enrolment.jurisdiction), sealed to key \(enrolment.fingerprint) "
            + "(`qantara admin enrol` opens it):")
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Writes `data` to a new file readable by its owner alone.
func writePrivate(_ data: Data, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
        throw AdminClient.Failure(description: "cannot write \(path)")
    }
}

/// An enrolment key pair on disk: JSON with the base64 public and secret keys, mode 0600.
enum EnrolmentKeyFile {
    struct Contents: Codable {
        var publicKey: String
        var secretKey: String
    }

    static func write(_ pair: SealedBox.KeyPair, to path: String) throws {
        for file in [path, path + ".pub"] where FileManager.default.fileExists(atPath: file) {
            throw AdminClient.Failure(description: "\(file) exists: an enrolment key is never overwritten")
        }
        var secret = pair.secretKey.exportBytes()
        defer { wipe(&secret) }
        try writePrivate(try JSONEncoder().encode(Contents(publicKey: Base64.encode(pair.publicKey),
                                                           secretKey: Base64.encode(secret))), to: path)
        guard FileManager.default.createFile(atPath: path + ".pub", contents: Data((Base64.encode(pair.publicKey)
                                                                                   + "\n").utf8)) else {
            throw AdminClient.Failure(description: "cannot write \(path).pub")
        }
    }

    static func read(_ path: String) throws -> SealedBox.KeyPair {
        guard let data = FileManager.default.contents(atPath: path),
              let contents = try? JSONDecoder().decode(Contents.self, from: data),
              let publicKey = Base64.decode(contents.publicKey), var secret = Base64.decode(contents.secretKey),
              publicKey.count == SealedBox.publicKeySizeBytes, secret.count == SealedBox.secretKeySizeBytes else {
            throw AdminClient.Failure(description: "\(path) is not an enrolment key file (`qantara admin keygen`)")
        }
        defer { wipe(&secret) }
        return SealedBox.KeyPair(publicKey: publicKey, secretKey: SecretKey(copying: secret))
    }

    /// The public key (base64) an argument names: itself, or a file holding only it (`.pub`). A key pair file is
    /// refused: its secret half must never leave the newcomer.
    static func publicKey(_ argument: String) throws -> String {
        var text = argument
        if let data = FileManager.default.contents(atPath: argument) {
            guard (try? JSONDecoder().decode(Contents.self, from: data)) == nil else {
                throw AdminClient.Failure(description: "\(argument) holds the secret half of an enrolment key, which "
                    + "stays with its owner: give its .pub file or the public key it printed")
            }
            text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let key = Base64.decode(text), key.count == SealedBox.publicKeySizeBytes else {
            throw AdminClient.Failure(description: "--enrolment-key is neither a .pub file nor a base64 public key")
        }
        return text
    }
}

/// `qantara approve`: a second administrator's agreement to an irreversible act another requested.
struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve a pending irreversible act of a jurisdiction (key destroy, root rotation, legal-process grant, administrators); it runs once a quorum approved.")
    @OptionGroup var options: AuthorityOptions
    @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
    @Argument(help: "The pending request's id (r-…).") var request: String
    @Option(help: "Where to write an approved new administrator's sealed enrolment, or an approved node certificate.")
    var out: String?
    @Option(help: "To approve a new administrator: its enrolment key's fingerprint, as the newcomer read it out to you.")
    var fingerprint: String?

    func validate() throws { try KeyCommand.check(jurisdiction) }

    func run() async throws {
        let code = try jurisdictionArgument(jurisdiction)
        // Without --admin, the jurisdiction's second default administrator approves (the first usually requested).
        // The act is read here from the bytes its requester signed and approved by their digest: a gateway relaying
        // the list cannot make this approve another act than the one shown.
        let pending = try await options.run(code, .listPending, adminIndex: 2).approvals ?? []
        let (signed, call) = try await runAdmin { () throws -> ([UInt8], AuthorityRequest) in
            guard let entry = pending.first(where: { $0.id == request }), let signed = entry.request.flatMap(Base64.decode),
                  let call = try? JSONDecoder().decode(AuthorityRequest.self, from: Data(signed)),
                  call.jurisdiction == code else {
                throw AdminClient.Failure(description: "no pending request \(request) in \(code)")
            }
            if case .createAdministrator(_, let key) = call.action {
                let actual = AuthorityAction.fingerprint(key)
                guard fingerprint?.lowercased() == actual else {
                    throw AdminClient.Failure(description: "\(request) seals the new administrator's credentials to key "
                        + "\(actual): compare it with the fingerprint the newcomer reads out, and pass it as --fingerprint")
                }
            }
            return (signed, call)
        }
        print("approving \(request): \(call.action.summary)")
        let answer = try await options.run(code, .approve(request: request, digest: AuthorityRequest.digest(signed)),
                                           adminIndex: 2)
        if reportPending(answer, jurisdiction: code) { return }
        print("approved \(request): \(answer.action) done")
        for grant in answer.grants ?? [] { print("grant \(grant.id) is \(grant.state)") }
        for key in answer.keys ?? [] { print("\(key.jurisdiction) \(key.tenant) v\(key.version) \(key.state)") }
        try await runAdmin { try saveEnrolment(answer, to: out) }
        if let certificate = answer.certificate {
            if let out {
                try writeOutput(certificate, to: out)
                print("node certificate written to \(out): install it on the node (qantara node … enrol --certificate)")
            } else {
                print(certificate, terminator: "")
            }
        }
    }
}

/// `qantara approvals`: a jurisdiction's acts waiting for approvals.
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List a jurisdiction's irreversible acts waiting for approvals.")
    @OptionGroup var options: AuthorityOptions
    @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String

    func validate() throws { try KeyCommand.check(jurisdiction) }

    func run() async throws {
        let answer = try await options.run(try jurisdictionArgument(jurisdiction), .listPending)
        // Each act as read here from the bytes its requester signed (what `approve` will name by their digest).
        printTable(["REQUEST", "ACTION", "DIGEST", "APPROVALS", "EXPIRES"], (answer.approvals ?? []).map { pending in
            let signed = pending.request.flatMap(Base64.decode)
            let call = signed.flatMap { try? JSONDecoder().decode(AuthorityRequest.self, from: Data($0)) }
            return [pending.id, call?.action.summary ?? "(unreadable)",
                    signed.map { String(AuthorityRequest.digest($0).prefix(16)) } ?? "-",
                    "\(pending.approvals.count)/\(pending.required)", pending.expires]
        })
    }
}
