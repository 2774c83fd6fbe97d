import Hashing
import Admin
import KeyStore
import ArgumentParser
import Foundation
import ObjectModel
import Sovereignty

/// `qantara grant`: sovereignty grants, signed by a jurisdiction's authority key in its key store.
struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant", abstract: "Issue, list, show and revoke sovereignty grants (cross-border read permissions).",
        subcommands: [Issue.self, List.self, Show.self, Revoke.self])

    /// Durations like 90s, 30m, 12h, 7d.
    static func seconds(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            return Int64(text.dropLast()).map { $0 * factor }
        }
        return Int64(text)
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a grant letting gateways of other jurisdictions read part of a bucket.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "The issuing jurisdiction (where the bucket lives).") var jurisdiction: String
        @Option(name: .customLong("to"), help: "A recipient jurisdiction (repeatable).") var recipients: [String] = []
        @Option(help: "Tenant owning the bucket.") var tenant: String
        @Option(help: "Bucket.") var bucket: String
        @Option(help: "Key prefix covered (default: the whole bucket).") var prefix: String?
        @Option(help: "Exactly this key instead of a prefix.") var key: String?
        @Option(help: "Comma-separated operations: \(ReadOperation.allCases.map(\.rawValue).joined(separator: ", ")).")
        var operations: String = "GetObject,HeadObject,ListObjects"
        @Option(help: "Purpose: \(GrantPurpose.allCases.map(\.rawValue).joined(separator: ", ")).") var purpose: String
        @Option(help: "Legal basis reference (case, contract clause, order).") var legalBasis: String
        @Option(help: "Validity, like 1h, 7d (required; bounded by the key store's maximum).") var expiresIn: String
        @Option(help: "Start of validity, seconds since 1970 (default: now).") var notBefore: Int64?
        @Option(help: "Most bytes served under the grant.") var maxBytes: Int64?
        @Option(help: "Most requests served under the grant.") var maxRequests: Int64?

        func validate() throws {
            try KeyCommand.check(jurisdiction)
            guard !recipients.isEmpty else { throw ValidationError("--to is required (a recipient jurisdiction)") }
            guard GrantCommand.seconds(expiresIn).map({ $0 > 0 }) == true else {
                throw ValidationError("--expires-in must be a duration like 1h or 7d")
            }
        }

        func run() async throws {
            let code = try jurisdictionArgument(jurisdiction)
            var parsed = [ReadOperation]()
            for name in operations.split(separator: ",") {
                guard let operation = ReadOperation(rawValue: String(name)) else {
                    throw ValidationError("unknown operation \(name); one of "
                        + ReadOperation.allCases.map(\.rawValue).joined(separator: ", "))
                }
                parsed.append(operation)
            }
            guard let purpose = GrantPurpose(rawValue: purpose) else {
                throw ValidationError("unknown purpose \(purpose); one of "
                    + GrantPurpose.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let request = GrantRequest(recipients: try recipients.map(jurisdictionArgument), tenant: tenant,
                                       bucket: bucket, key: key, prefix: prefix, operations: parsed, purpose: purpose,
                                       legalBasis: legalBasis, notBefore: notBefore,
                                       expiresInSeconds: GrantCommand.seconds(expiresIn)!, maxBytes: maxBytes,
                                       maxRequests: maxRequests)
            let answer = try await options.run(code, .issueGrant(request))
            if reportPending(answer, jurisdiction: code) { return }
            guard let grant = answer.grants?.first else { return }
            print("issued grant \(grant.id): \(grant.recipients.joined(separator: ",")) may \(grant.operations.joined(separator: ",")) "
                + "\(grant.tenant)/\(grant.bucket) \(grant.scope) until \(grant.expires)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the grants a jurisdiction issued.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Issuing jurisdiction.") var jurisdiction: String

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let grants = try await options.run(try jurisdictionArgument(jurisdiction), .listGrants).grants ?? []
            printTable(["GRANT", "STATE", "TO", "TENANT", "BUCKET", "SCOPE", "OPERATIONS", "EXPIRES", "USED"],
                       grants.map { [$0.id, $0.state, $0.recipients.joined(separator: ","), $0.tenant, $0.bucket, $0.scope,
                                     $0.operations.joined(separator: ","), $0.expires, Self.used($0)] })
        }

        /// `3/10 req, 2048/- B`: what gateways used of each limit ("-" when there is none); "-" for no limits.
        static func used(_ grant: GrantView) -> String {
            guard grant.maxRequests != nil || grant.maxBytes != nil else { return "-" }
            return "\(grant.usedRequests)/\(grant.maxRequests.map(String.init) ?? "-") req, "
                + "\(grant.usedBytes)/\(grant.maxBytes.map(String.init) ?? "-") B"
        }
    }

    /// One grant of an issuing jurisdiction, as `show` and `revoke` name it.
    struct GrantTarget: ParsableArguments {
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Issuing jurisdiction.") var jurisdiction: String
        @Argument(help: "Grant id.") var id: String

        func validate() throws { try KeyCommand.check(jurisdiction) }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one grant, with its signed JWS.")
        @OptionGroup var target: GrantTarget

        func run() async throws {
            let code = try jurisdictionArgument(target.jurisdiction)
            let grants = try await target.options.run(code, .listGrants).grants ?? []
            guard let grant = grants.first(where: { $0.id == target.id }) else {
                FileHandle.standardError.write(Data("error: NoSuchGrant: no grant \(target.id) in \(code)\n".utf8))
                throw ExitCode(1)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(grant), as: UTF8.self))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a grant: refused on every gateway within a second.")
        @OptionGroup var target: GrantTarget

        func run() async throws {
            let answer = try await target.options.run(try jurisdictionArgument(target.jurisdiction),
                                                      .revokeGrant(id: target.id))
            guard let grant = answer.grants?.first else { return }
            print("grant \(grant.id) is \(grant.state)")
        }
    }
}

/// `qantara audit`: a jurisdiction's audit log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read, export and verify a jurisdiction's audit log.",
        subcommands: [Tail.self, Export.self, Verify.self])

    static func fetch(_ options: AuthorityOptions, _ jurisdiction: String) async throws -> AuditView {
        guard let audit = try await options.run(try jurisdictionArgument(jurisdiction), .readAudit).audit else {
            throw AdminClient.Failure(description: "the gateway sent no audit log")
        }
        return audit
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The newest entries, one line each.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(name: .short, help: "Number of entries.") var n: Int = 20
        @Option(help: "Only entries at or after this time (ms since 1970).") var since: Int64 = 0

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let view = try await AuditCommand.fetch(options, jurisdiction)
            let entries = view.entries.compactMap { try? JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
            for entry in entries.filter({ $0.timeMillis >= since }).suffix(n) {
                let fields = entry.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                print("\(entry.seq) \(Timestamps.iso8601(millis: entry.timeMillis)) \(entry.kind) \(fields)")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every entry since a time, as JSON lines.")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(help: "Only entries at or after this time (ms since 1970).") var since: Int64 = 0

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let view = try await AuditCommand.fetch(options, jurisdiction)
            for line in view.entries {
                guard let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(line.utf8)),
                      entry.timeMillis >= since else { continue }
                print(line)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the log by its hash chain and Merkle tree against every checkpoint its authority signed, "
                + "including the last one its key store holds (a cut or rewritten log fails).")
        @OptionGroup var options: AuthorityOptions
        @Option(help: "Jurisdiction.") var jurisdiction: String = "MA"
        @Option(help: "Trust anchor (`qantara trust export`); without one, the authority keys the gateway reports.")
        var trust: String?
        @Option(help: "The log's origin (qantara/<J>/audit/<G>/<identity>): fail on any other.") var origin: String?
        @Flag(help: "Print the report as JSON.") var json = false

        func validate() throws { try KeyCommand.check(jurisdiction) }

        func run() async throws {
            let view = try await AuditCommand.fetch(options, jurisdiction)
            let code = try jurisdictionArgument(jurisdiction)
            var authorities = Sovereignty.Authorities()
            if let trust {
                let anchor = try await runAdmin { try TrustAnchor.load(trust) }
                guard anchor.jurisdiction == code else { throw fail("\(trust) is the anchor of \(anchor.jurisdiction)") }
                authorities = anchor.authorities
            } else {
                if !json {
                    FileHandle.standardError.write(Data(("warning: checking with the authority keys the gateway "
                        + "reports; give --trust with the published anchor to check independently\n").utf8))
                }
                for key in view.authorities {
                    if let bytes = Base64.decode(key.publicKey) { authorities[key.kid] = (code, bytes) }
                }
            }
            var held = [SignedNote]()
            if let latest = view.latest {
                guard let note = SignedNote(latest) else { throw fail("the key store's checkpoint is not a signed note") }
                held.append(note)
            }
            // A live log grows: entries after the key store's last checkpoint are reported, not failed.
            let report = AuditVerifier.verify(entryLines: view.entries, checkpointLines: view.checkpoints, held: held,
                                              policy: .init(origin: origin, requireFullCoverage: false),
                                              jurisdiction: code, authorities: authorities)
            if let error = view.checkpointError, !json {
                FileHandle.standardError.write(Data("warning: no fresh checkpoint: \(error)\n".utf8))
            }
            try AuditCommand.report(report, jurisdiction: code, json: json)
        }
    }

    /// Prints a verification report; exits 1 when the log fails it.
    static func report(_ report: AuditVerifier.Report, jurisdiction: Jurisdiction, json: Bool) throws {
        let newest = report.newestCheckpointMillis.map { Timestamps.iso8601(millis: $0) }
        if json {
            struct Output: Encodable {
                var jurisdiction: String, valid: Bool, entries: Int, checkpoints: Int, signedThrough: UInt64
                var origin: String?, newestCheckpoint: String?, root: String, problems: [String]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let output = Output(jurisdiction: jurisdiction.code, valid: report.isValid, entries: report.entries,
                                checkpoints: report.checkpoints, signedThrough: report.signedThrough,
                                origin: report.origin, newestCheckpoint: newest, root: report.root,
                                problems: report.problems)
            Swift.print(String(decoding: try encoder.encode(output), as: UTF8.self))
            if !report.isValid { throw ExitCode(1) }
            return
        }
        guard report.isValid else {
            throw fail("audit log of \(jurisdiction) fails verification: " + report.problems.joined(separator: "; "))
        }
        Swift.print("audit log of \(jurisdiction) (\(report.origin ?? "?")): \(report.entries) entries, hash chain and "
            + "Merkle tree intact, \(report.checkpoints) checkpoint(s) signed by its authority, signed through entry "
            + "\(report.signedThrough), newest checkpoint \(newest ?? "undated")")
    }
}
