import Admin
import ArgumentParser
import Foundation
import KeyStore
import ObjectModel
import ObjectService

/// Where a jurisdiction's authority command goes and who signs it: the gateway of that jurisdiction (the authority
/// of J acts only through J's gateways) and one of J's administrators, by its credentials file.
struct AuthorityOptions: ParsableArguments {
    @Option(help: "A gateway of the jurisdiction (env QANTARA_ENDPOINT).")
    var endpoint: String = ProcessInfo.processInfo.environment["QANTARA_ENDPOINT"] ?? "http://127.0.0.1:9000"

    @Option(help: "Data directory holding admins/<J>-admin-<n>.json (the default administrators' credentials).")
    var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data"

    @Option(help: "Administrator credentials file (env QANTARA_ADMIN_CREDENTIALS); default: DATA/admins/<J>-admin-1.json.")
    var admin: String? = ProcessInfo.processInfo.environment["QANTARA_ADMIN_CREDENTIALS"]

    @Option(help: "PEM certificate authorities trusted for an https endpoint besides the system's (env QANTARA_CA).")
    var ca: String? = ProcessInfo.processInfo.environment["QANTARA_CA"]

    /// The credentials file to sign with: `--admin`, else the `index`-th default administrator of `jurisdiction`.
    func credentialsPath(_ jurisdiction: Jurisdiction, index: Int) -> String {
        admin ?? data + "/admins/\(jurisdiction.code)-admin-\(index).json"
    }

    /// Sends `action` as `jurisdiction`'s authority, signed with the administrator's credentials.
    func call(_ jurisdiction: Jurisdiction, _ action: AuthorityAction, adminIndex: Int = 1) async throws
        -> AuthorityAnswerView
    {
        guard let url = URL(string: endpoint), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw AdminClient.Failure(description: "--endpoint must be an http(s) URL, got \(endpoint)")
        }
        // An unknown jurisdiction gets the gateway's own answer, before any credentials are looked for.
        let probe = AdminClient(endpoint: url, accessKeyID: "", secret: "", certificateAuthorities: ca)
        if let known = await probe.jurisdictions(), !known.contains(jurisdiction.code) {
            throw AdminClient.Failure(description: "UnknownJurisdiction: " + ObjectServiceError.describe(
                .unknownJurisdiction(jurisdiction, known: known.compactMap(Jurisdiction.init))))
        }
        let path = credentialsPath(jurisdiction, index: adminIndex)
        guard let data = FileManager.default.contents(atPath: path),
              let credentials = try? JSONDecoder().decode(AdministratorCredentials.self, from: data) else {
            throw AdminClient.Failure(description: "no administrator credentials of \(jurisdiction) at \(path): give "
                + "--admin FILE (from the key ceremony or `qantara admin create`)")
        }
        guard credentials.jurisdiction == jurisdiction else {
            throw AdminClient.Failure(description: "\(path) holds an administrator of \(credentials.jurisdiction), "
                + "not of \(jurisdiction)")
        }
        let client = AdminClient(endpoint: url, accessKeyID: credentials.accessKeyId,
                                 secret: credentials.secretAccessKey, certificateAuthorities: ca)
        return try await client.call("POST", "authority", body: AuthorityRequest(jurisdiction: jurisdiction,
                                                                                  action: action),
                                     as: AuthorityAnswerView.self)
    }

    /// ``call(_:_:adminIndex:)``, printing a one-line error and exiting 1 on failure.
    func run(_ jurisdiction: Jurisdiction, _ action: AuthorityAction, adminIndex: Int = 1) async throws
        -> AuthorityAnswerView
    {
        try await runAdmin { try await call(jurisdiction, action, adminIndex: adminIndex) }
    }
}

/// Prints what an irreversible act awaits; true when it waits (its result is not there yet).
func reportPending(_ answer: AuthorityAnswerView, jurisdiction: Jurisdiction) -> Bool {
    guard answer.state == "awaiting-approval", let pending = answer.pending else { return false }
    print("request \(pending.id) (\(pending.action)) awaits approval: \(pending.approvals.count) of "
        + "\(pending.required) administrators of \(jurisdiction); another administrator runs "
        + "`qantara approve \(pending.id) --jurisdiction \(jurisdiction)` (before \(pending.expires))")
    return true
}

/// `--jurisdiction`, parsed.
func jurisdictionArgument(_ text: String) throws -> Jurisdiction {
    guard let jurisdiction = Jurisdiction(text.uppercased()) else {
        throw ValidationError("--jurisdiction must be an ISO 3166-1 alpha-2 code, got \(text)")
    }
    return jurisdiction
}
