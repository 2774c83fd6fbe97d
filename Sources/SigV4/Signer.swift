import Hashing
import ObjectModel

/// Signs requests with SigV4, for the admin CLI, the load generator and tests.
public struct SigV4Signer: Sendable {
    public let accessKeyID: String
    public let secret: String
    public let region: String
    public let service: String

    public init(accessKeyID: String, secret: String, region: String = "us-east-1", service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secret = secret
        self.region = region
        self.service = service
    }

    /// Headers to add to `request` (which must already hold `host`): `x-amz-date`, `x-amz-content-sha256`,
    /// `authorization`. Every header of the request is signed.
    public func sign(_ request: SignableRequest, payloadHash: String, nowSeconds: Int64) -> [(String, String)] {
        let amzDate = Timestamps.amzDate(nowSeconds)
        let date = String(amzDate.prefix(8))
        var signed = request
        signed.headers.append((name: "x-amz-date", value: amzDate))
        signed.headers.append((name: "x-amz-content-sha256", value: payloadHash))
        // Sorted by bytes, duplicates once: the load generator signs every request, so no Set and no Unicode order.
        var names = [String]()
        for name in signed.headers.map(\.name).sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            where names.last != name { names.append(name) }
        let scope = date + "/" + region + "/" + service + "/aws4_request"
        let canonical = Canonical.requestBytes(signed, signedHeaders: names, payloadHash: payloadHash)
        let key = SigningKeyCache.shared.key(secret: secret, date: date, region: region, service: service)
        let signature = Canonical.signature(signingKey: key, stringToSign: Canonical.stringToSign(
            amzDate: amzDate, scope: scope, canonicalBytes: canonical))
        let authorization = "AWS4-HMAC-SHA256 Credential=" + accessKeyID + "/" + scope + ", SignedHeaders="
            + names.joined(separator: ";") + ", Signature=" + signature
        return [("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash), ("authorization", authorization)]
    }

    /// A presigned query string (without `?`) for `method` on `rawPath` at `host`, valid `expiresSeconds`.
    public func presignQuery(method: String, host: String, rawPath: String, expiresSeconds: Int,
                             nowSeconds: Int64) -> String {
        let amzDate = Timestamps.amzDate(nowSeconds)
        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let credential = URIEncoding.encode("\(accessKeyID)/\(scope)", keepSlash: false)
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\(credential)&X-Amz-Date=\(amzDate)"
            + "&X-Amz-Expires=\(expiresSeconds)&X-Amz-SignedHeaders=host"
        let request = SignableRequest(method: method, rawPath: rawPath, rawQuery: query,
                                      headers: [(name: "host", value: host)])
        let canonical = Canonical.requestBytes(request, signedHeaders: ["host"], payloadHash: "UNSIGNED-PAYLOAD")
        let key = SigningKeyCache.shared.key(secret: secret, date: date, region: region, service: service)
        let signature = Canonical.signature(signingKey: key, stringToSign: Canonical.stringToSign(
            amzDate: amzDate, scope: scope, canonicalBytes: canonical))
        return query + "&X-Amz-Signature=\(signature)"
    }
}
