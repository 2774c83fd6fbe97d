import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hashing
import ObjectModel
import SigV4

/// A client of the admin API, signing each call with the root credentials (SigV4).
public struct AdminClient: Sendable {
    public let endpoint: URL
    let signer: SigV4Signer

    public init(endpoint: URL, accessKeyID: String, secret: String) {
        self.endpoint = endpoint
        self.signer = SigV4Signer(accessKeyID: accessKeyID, secret: secret)
    }

    /// Failure of an admin call: the server's error code and message, or a transport problem.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Performs a call and decodes the JSON answer.
    public func call<T: Decodable>(_ method: String, _ path: String, query: [(String, String)] = [],
                                   body: (some Encodable)? = Optional<String>.none, as type: T.Type) async throws -> T {
        try await request(method, rawPath: "/\(AdminAPI.pathComponent)/\(AdminAPI.prefix.joined(separator: "/"))/" + path,
                          query: query, body: body, as: type)
    }

    /// Performs a SigV4-signed request of any path (`rawPath` already URI-encoded) and decodes its JSON answer.
    public func request<T: Decodable>(_ method: String, rawPath: String, query: [(String, String)] = [],
                                      body: (some Encodable)? = Optional<String>.none, as type: T.Type) async throws -> T {
        let rawQuery = query.map { "\(URIEncoding.encode($0.0, keepSlash: false))=\(URIEncoding.encode($0.1, keepSlash: false))" }
            .joined(separator: "&")
        let payload: [UInt8] = try body.map { [UInt8](try JSONEncoder().encode($0)) } ?? []
        guard var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false) else {
            throw Failure(description: "invalid endpoint \(endpoint)")
        }
        components.percentEncodedPath = rawPath
        components.percentEncodedQuery = rawQuery.isEmpty ? nil : rawQuery
        guard let url = components.url, let host = components.host else {
            throw Failure(description: "invalid endpoint \(endpoint)")
        }
        let hostHeader = components.port.map { "\(host):\($0)" } ?? host
        var request = URLRequest(url: url)
        request.httpMethod = method
        var headers: [(name: String, value: String)] = [(name: "host", value: hostHeader)]
        if !payload.isEmpty {
            request.httpBody = Data(payload)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            headers.append((name: "content-type", value: "application/json"))
        }
        let signable = SignableRequest(method: method, rawPath: rawPath, rawQuery: rawQuery, headers: headers)
        let payloadHash = Hex.encode(StreamingDigest.hash(.sha256, payload))
        for (name, value) in signer.sign(signable, payloadHash: payloadHash, nowSeconds: Int64(Date().timeIntervalSince1970)) {
            request.setValue(value, forHTTPHeaderField: name)
        }
        let data: Data, response: URLResponse
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            throw Failure(description: "cannot reach \(endpoint): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            if let error = try? JSONDecoder().decode(AdminErrorView.self, from: data) {
                throw Failure(description: "\(error.code): \(error.message)")
            }
            let text = String(decoding: data, as: UTF8.self)
            if let code = text.range(of: "<Code>").flatMap({ start in
                text.range(of: "</Code>").map { String(text[start.upperBound..<$0.lowerBound]) } }) {
                let message = text.range(of: "<Message>").flatMap { start in
                    text.range(of: "</Message>").map { String(text[start.upperBound..<$0.lowerBound]) } } ?? ""
                throw Failure(description: "\(code): \(message)")
            }
            throw Failure(description: "HTTP \(status) from \(endpoint)")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw Failure(description: "unexpected answer from \(endpoint): \(error)")
        }
    }
}
