using Fabric.Api.Endpoints;
using Fabric.Api.Security;
using Fabric.Client;
using Fabric.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Fabric.Api;

/// <summary>Adds the REST API to a silo's web host: <see cref="AddFabricApi"/> for its services, <see cref="MapFabricApi"/> for its routes.</summary>
public static class FabricApi
{
    /// <summary>The OpenAPI document's name: it is served at <c>/openapi/v1.json</c>.</summary>
    public const string DocumentName = "v1";

    private const string CallerScheme = "FabricCaller";

    public static IServiceCollection AddFabricApi(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // Client certificates identify callers when they chain to the fabric's CAs (the silo's own trust bundle).
        var caFile = configuration["Fabric:Tls:CaFile"] is { Length: > 0 } file ? file : null;
        services.AddOptions<ApiOptions>().Bind(configuration.GetSection(ApiOptions.Section));

        // A request is judged by its bearer token when it has one, else by its client certificate; a challenge is
        // always the token scheme's 401 problem.
        var authentication = services.AddAuthentication(CallerScheme)
            .AddPolicyScheme(CallerScheme, "token or client certificate", policy =>
            {
                policy.ForwardDefaultSelector = context =>
                    context.Request.Headers.Authorization.Count == 0 && context.Connection.ClientCertificate is not null && caFile is not null
                        ? ClientCertificates.SchemeName
                        : TokenAuthenticationHandler.SchemeName;
                policy.ForwardChallenge = TokenAuthenticationHandler.SchemeName;
                policy.ForwardForbid = TokenAuthenticationHandler.SchemeName;
            })
            .AddScheme<AuthenticationSchemeOptions, TokenAuthenticationHandler>(TokenAuthenticationHandler.SchemeName, configureOptions: null);
        if (caFile is not null)
        {
            var trust = FabricTrust.Load("Fabric:Tls:CaFile", caFile);
            authentication.AddCertificate(ClientCertificates.SchemeName, o => ClientCertificates.Configure(o, trust));
        }

        services.AddAuthorization();
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));

        // A body that is malformed, missing or too large throws, so ErrorResponses answers it as invalid-spec.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddOpenApi(DocumentName, o => o.AddDocumentTransformer<BearerSecurity>());

        // The silo's own runtime client: requests reach the grains with no extra connection.
        services.AddSingleton(sp => new FabricClient(sp.GetRequiredService<IClusterClient>()));
        services.AddHostedService<BootstrapToken>();
        return services;
    }

    public static WebApplication MapFabricApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<AuditTrail>();
        app.UseMiddleware<ErrorResponses>();
        app.UseWebSockets();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        app.MapGet("/reference", (EndpointDataSource endpoints) => Results.Content(ReferencePage.Render(endpoints), "text/html; charset=utf-8"))
            .AllowAnonymous().ExcludeFromDescription();

        var v1 = app.MapGroup("/v1").RequireAuthorization();
        AccessEndpoints.Map(v1);
        HostEndpoints.Map(v1);
        VmEndpoints.Map(v1);
        ConsoleEndpoints.Map(v1);
        StorageEndpoints.Map(v1);
        NetworkEndpoints.Map(v1);
        EventEndpoints.Map(v1);
        return app;
    }
}
