using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Fabric.Api;

/// <summary>Declares in the OpenAPI document that every <c>/v1</c> operation needs a bearer token.</summary>
internal sealed class BearerSecurity : IOpenApiDocumentTransformer
{
    private const string Scheme = "fabricToken";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info.Title = "Fabric API";
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[Scheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "fabric_<id>_<secret>",
            Description = "An API token (fabricctl token create; ./fabric up writes the first to .fabric/admin.token).",
        };
        document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Scheme, document)] = [] }];
        return Task.CompletedTask;
    }
}
