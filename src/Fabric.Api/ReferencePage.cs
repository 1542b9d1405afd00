using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Api;

/// <summary>
/// <c>/reference</c>: a plain HTML page of every route, by tag, with its method, path and summary, taken from the same
/// endpoint metadata the OpenAPI document is generated from (so it cannot drift), and a link to that document. Served
/// from the silo itself: no script or stylesheet from elsewhere.
/// </summary>
internal static class ReferencePage
{
    public static string Render(EndpointDataSource endpoints)
    {
        var routes = endpoints.Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1", StringComparison.Ordinal) == true)
            .Select(e => (
                Tag: e.Metadata.GetMetadata<ITagsMetadata>()?.Tags is [var tag, ..] ? tag : "Other",
                Methods: string.Join(' ', e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []),
                Path: e.RoutePattern.RawText!,
                Summary: e.Metadata.GetMetadata<IEndpointSummaryMetadata>()?.Summary ?? ""))
            .OrderBy(r => r.Tag, StringComparer.Ordinal).ThenBy(r => r.Path, StringComparer.Ordinal);

        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Fabric API v1</title>")
            .Append("<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em;vertical-align:top}code{white-space:nowrap}</style></head><body>")
            .Append("<h1>Fabric API v1</h1><p>Every route needs <code>Authorization: Bearer fabric_&lt;id&gt;_&lt;secret&gt;</code>. ")
            .Append("Machine-readable: <a href=\"/openapi/v1.json\">/openapi/v1.json</a>.</p>");
        foreach (var group in routes.GroupBy(r => r.Tag))
        {
            html.Append("<h2>").Append(WebUtility.HtmlEncode(group.Key)).Append("</h2><table>");
            foreach (var route in group)
            {
                html.Append("<tr><td><code>").Append(route.Methods).Append("</code></td><td><code>")
                    .Append(WebUtility.HtmlEncode(route.Path)).Append("</code></td><td>")
                    .Append(WebUtility.HtmlEncode(route.Summary)).Append("</td></tr>");
            }

            html.Append("</table>");
        }

        return html.Append("</body></html>").ToString();
    }
}
