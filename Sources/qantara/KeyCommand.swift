import Admin
import ArgumentParser
import Foundation
import KeyStore
import ObjectModel

/// `qantara key`: a jurisdiction's key hierarchy, administered by its administrators through its gateways.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Administer a jurisdiction's key hierarchy (root and tenant keys) as one of its administrators.",
        subcommands: [List.self, Rotate.self, Rewrap.self, Retire.self, Destroy.self])

    /// `--jurisdiction` checked as an ISO 3166-1 alpha-2 code.
    static func check(_ jurisdiction: String) throws { _ = try jurisdictionArgument(jurisdiction) }

    static func printKeys(_ keys: [KeyView]) {
        printTable(["JURISDICTION", "TENANT", "VERSION", "STATE", "CREATED"],
                   keys.map { [$0.jurisdiction, $0.tenant, String($0.version), $0.state, $0.created] })
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key versions, their states and creation times.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Option(help: "Only this tenant's keys.") var tenant: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let answer = try await options.run(try jurisdictionArgument(jurisdiction), .listKeys(tenant: tenant))
            KeyCommand.printKeys(answer.keys ?? [])
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a key version (a tenant's with --tenant; the root key's without, which needs approvals); new writes use it at once.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Option(help: "Tenant; without it the jurisdiction's root key rotates.") var tenant: String?

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            let answer = try await options.run(code, .rotateKey(tenant: tenant))
            if reportPending(answer, jurisdiction: code) { return }
            guard let key = answer.keys?.first else { return }
            print("\(key.jurisdiction) \(key.tenant) key is now at version \(key.version)")
        }
    }

    struct Rewrap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-wrap every stored data key to the current key version (object data untouched), with progress.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Option(help: "Only this tenant's data keys.") var tenant: String?
        @Flag(help: "Start the job, print its id and return without waiting (follow it with --status ID).")
        var detach = false
        @Option(help: "Show (and follow, unless --detach) the rewrap job with this id instead of starting one.")
        var status: String?

        func validate() throws {
            try KeyCommand.check(jurisdiction)
            if status != nil, tenant != nil { throw ValidationError("--status takes a job id; drop --tenant") }
        }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            var job: RewrapJobView
            if let status {
                guard let found = try await options.run(code, .rewrapStatus(job: status)).job else { return }
                job = found
                Self.progress(job, interactive: false)
            } else {
                guard let started = try await options.run(code, .rewrapKeys(tenant: tenant)).job else { return }
                job = started
                print("rewrap job \(job.id): \(job.total) object(s) to examine")
                if detach {
                    print("follow it with: qantara key rewrap --jurisdiction \(code) --status \(job.id)")
                }
            }
            if detach || job.state != "running" && status != nil {
                if job.state == "failed" { throw ExitCode(1) }
                return
            }
            let interactive = isatty(STDOUT_FILENO) == 1
            while job.state == "running" {
                try await Task.sleep(for: .milliseconds(300))
                guard let next = try await options.run(code, .rewrapStatus(job: job.id)).job else { break }
                job = next
                Self.progress(job, interactive: interactive)
            }
            if interactive { print("") }
            guard job.state == "done" else {
                FileHandle.standardError.write(Data("error: rewrap job \(job.id) failed: \(job.error ?? "unknown")\n".utf8))
                throw ExitCode(1)
            }
            print("rewrapped \(job.rewrapped) data key(s) of \(job.examined) object(s) in \(job.jurisdiction)")
        }

        static func progress(_ job: RewrapJobView, interactive: Bool) {
            let width = 30
            let done = job.total == 0 ? width : min(width, job.examined * width / job.total)
            let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
            let line = "[\(bar)] \(job.examined)/\(job.total) examined, \(job.rewrapped) rewrapped"
                + (job.error.map { " (waiting: \($0))" } ?? "")
            if interactive {
                FileHandle.standardOutput.write(Data(("\r" + line).utf8))
            } else {
                print(line)
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable decryption with a tenant's older key versions; refused while data keys depend on them.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Option(help: "Tenant.") var tenant: String

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let answer = try await options.run(try jurisdictionArgument(jurisdiction), .retireKey(tenant: tenant))
            KeyCommand.printKeys(answer.keys ?? [])
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Destroy every version of a tenant's key in a jurisdiction (crypto-shreds its data there, irreversibly); runs once a quorum of administrators approved it.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction (ISO code).") var jurisdiction: String
        @Option(help: "Tenant.") var tenant: String
        @Flag(help: "Required: confirms the destruction, which cannot be undone.") var confirm = false

        func validate() throws {
            try KeyCommand.check(jurisdiction)
            guard confirm else {
                throw ValidationError("destroying \(tenant)'s key in \(jurisdiction) makes its data there unreadable "
                    + "forever; pass --confirm to proceed")
            }
        }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            let answer = try await options.run(code, .destroyKey(tenant: tenant))
            if reportPending(answer, jurisdiction: code) { return }
            print("destroyed every key version of tenant \(tenant) in \(code): its data there is crypto-shredded")
        }
    }
}
