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
