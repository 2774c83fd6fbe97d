import Envelope
import Foundation
import Hashing
import ObjectModel
import SigV4
import Sovereignty

/// The administrator's signature of an authority call, as the gateway received it: SigV4 over the HTTP request
/// (`POST /_qantara/admin/v1/authority`), whose canonical form binds the body's SHA-256. The key store recomputes the
/// signature with the administrator's secret, which it alone keeps.
public struct AdministratorProof: Codable, Sendable, Equatable {
    public var accessKeyID: String
    public var amzDate: String
    /// `date/region/service/aws4_request`.
    public var scope: String
    public var signature: String
    /// The canonical request the signature covers (method, path, query, signed headers, payload hash).
    public var canonicalRequest: String

    public init(accessKeyID: String, amzDate: String, scope: String, signature: String, canonicalRequest: String) {
        self.accessKeyID = accessKeyID
        self.amzDate = amzDate
        self.scope = scope
        self.signature = signature
        self.canonicalRequest = canonicalRequest
    }

    /// The HTTP path of authority calls.
    public static let path = "/_qantara/admin/v1/authority"

    /// Signs `body` as an administrator's client does (tests and tools): a POST to ``path`` on `host`.
    public static func sign(_ body: [UInt8], accessKeyID: String, secret: String, host: String, nowSeconds: Int64)
        -> AdministratorProof
    {
        let request = SignableRequest(method: "POST", rawPath: path, rawQuery: "",
                                      headers: [(name: "host", value: host)])
        let payloadHash = Hex.encode(StreamingDigest.hash(.sha256, body))
        let signer = SigV4Signer(accessKeyID: accessKeyID, secret: secret)
        let added = signer.sign(request, payloadHash: payloadHash, nowSeconds: nowSeconds)
        var signed = request
        for (name, value) in added where name != "authorization" { signed.headers.append((name: name, value: value)) }
        let amzDate = added.first { $0.0 == "x-amz-date" }!.1
        let scope = "\(amzDate.prefix(8))/us-east-1/s3/aws4_request"
        let authorization = added.first { $0.0 == "authorization" }!.1
        let signature = String(authorization.split(separator: "=").last!)
        return AdministratorProof(accessKeyID: accessKeyID, amzDate: amzDate, scope: scope, signature: signature,
                                  canonicalRequest: Canonical.request(signed, signedHeaders: ["host", "x-amz-content-sha256",
                                                                                              "x-amz-date"],
                                                                      payloadHash: payloadHash))
    }
}

/// An administrator as the key store describes it (never its secret).
public struct AdministratorInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var jurisdiction: Jurisdiction
    public var createdMillis: Int64

    public init(id: String, name: String, jurisdiction: Jurisdiction, createdMillis: Int64) {
        self.id = id
        self.name = name
        self.jurisdiction = jurisdiction
        self.createdMillis = createdMillis
    }
}

/// A new administrator's credentials: given once, at creation, to that person alone.
public struct AdministratorCredentials: Codable, Sendable, Equatable {
    public var jurisdiction: Jurisdiction
    public var name: String
    public var accessKeyId: String
    public var secretAccessKey: String

    public init(jurisdiction: Jurisdiction, name: String, accessKeyId: String, secretAccessKey: String) {
        self.jurisdiction = jurisdiction
        self.name = name
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
    }
}

/// A new administrator's credentials as the key store hands them out: sealed to the enrolment key the administrator
/// made (`qantara admin keygen`), so only that administrator opens them (`qantara admin enrol`), not the requester,
/// the approvers or the gateways that relayed them.
public struct AdministratorEnrolment: Codable, Sendable, Equatable {
    public var jurisdiction: Jurisdiction
    public var name: String
    public var accessKeyId: String
    /// The enrolment key's fingerprint.
    public var fingerprint: String
    /// The ``AdministratorCredentials`` (JSON), sealed to the enrolment key, base64.
    public var sealedCredentials: String

    /// Seals `credentials` to `enrolmentKey` (base64); nil when that is not a public key.
    public init?(_ credentials: AdministratorCredentials, enrolmentKey: String) {
        guard let key = Base64.decode(enrolmentKey), let json = try? JSONEncoder().encode(credentials),
              let sealed = SealedBox.seal(Array(json), to: key) else { return nil }
        jurisdiction = credentials.jurisdiction
        name = credentials.name
        accessKeyId = credentials.accessKeyId
        fingerprint = SealedBox.fingerprint(key)
        sealedCredentials = Base64.encode(sealed)
    }

    /// The credentials, opened with the enrolment key pair they were sealed to.
    public func open(with keyPair: SealedBox.KeyPair) throws -> AdministratorCredentials {
        guard let sealed = Base64.decode(sealedCredentials), let json = SealedBox.open(sealed, with: keyPair),
              let credentials = try? JSONDecoder().decode(AdministratorCredentials.self, from: Data(json)),
              credentials.accessKeyId == accessKeyId, credentials.jurisdiction == jurisdiction else {
            throw KeyStoreError.invalidRequest("this enrolment was not sealed to this enrolment key")
        }
        return credentials
    }
}
