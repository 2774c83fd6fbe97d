import Admin
import ArgumentParser
import Foundation
import KeyStore
import ObjectModel

/// `qantara admin`: a jurisdiction's administrators, the identities that act as its authority.
struct AdministratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin", abstract: "A jurisdiction's administrators and how many must approve its irreversible acts.",
        subcommands: [Create.self, List.self, Quorum.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an administrator of a jurisdiction (needs a quorum of approvals); its credentials go to the administrator whose approval completes it, once.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Option(help: "A name for the new administrator (a person or a role).") var name: String
        @Option(help: "Where to write the new credentials (mode 0600) if they are issued now.") var out: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            let answer = try await options.run(code, .createAdministrator(name: name))
            if reportPending(answer, jurisdiction: code) { return }
            try saveCredentials(answer, to: out)
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

/// Writes a new administrator's credentials (mode 0600) to `path`, or prints them when there is none.
func saveCredentials(_ answer: AuthorityAnswerView, to path: String?) throws {
    guard let credentials = answer.credentials else { return }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(credentials)
    if let path {
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw AdminClient.Failure(description: "cannot write \(path)")
        }
        print("administrator \(credentials.name) of \(credentials.jurisdiction): \(credentials.accessKeyId), "
            + "credentials in \(path) (give them to that administrator alone)")
    } else {
        print("administrator \(credentials.name) of \(credentials.jurisdiction) (credentials shown only now):")
        print(String(decoding: data, as: UTF8.self))
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
    @Option(help: "Where to write an approved new administrator's credentials (mode 0600).") var out: String?

    func validate() throws { try KeyCommand.check(jurisdiction) }

    func run() async throws {
        let code = try jurisdictionArgument(jurisdiction)
        // Without --admin, the jurisdiction's second default administrator approves (the first usually requested).
        let answer = try await options.run(code, .approve(request: request), adminIndex: 2)
        if reportPending(answer, jurisdiction: code) { return }
        print("approved \(request): \(answer.action) done")
        for grant in answer.grants ?? [] { print("grant \(grant.id) is \(grant.state)") }
        for key in answer.keys ?? [] { print("\(key.jurisdiction) \(key.tenant) v\(key.version) \(key.state)") }
        try saveCredentials(answer, to: out)
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
        printTable(["REQUEST", "ACTION", "APPROVALS", "EXPIRES"],
                   (answer.approvals ?? []).map { [$0.id, $0.action, "\($0.approvals.count)/\($0.required)", $0.expires] })
    }
}
