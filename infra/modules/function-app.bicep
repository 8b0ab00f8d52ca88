// The ingestion Function App: Linux, Python 3.11, Flex Consumption (plan FC1), system-assigned identity.
// Host storage, the deployment package and Application Insights are all reached with that identity;
// the roles it needs are granted in role-assignments.bicep, after this module (the identity must exist
// first). Nothing runs before the runbook publishes the code, by which time the roles are in place.

@description('Required. Name of the Function App.')
param name string

@description('Required. Name of the Flex Consumption plan.')
param planName string

@description('Required. Azure region (must offer Flex Consumption).')
param location string

@description('Required. Name of the storage account that is the Functions host storage.')
param storageAccountName string

@description('Required. Blob endpoint of the host storage account.')
param blobEndpoint string

@description('Required. Queue endpoint of the host storage account.')
param queueEndpoint string

@description('Required. Table endpoint of the host storage account (the host writes diagnostic events to tables).')
param tableEndpoint string

@description('Required. URL of the blob container that holds the deployment package.')
param deploymentContainerUrl string

@description('Required. Connection string of Application Insights.')
param appInsightsConnectionString string

@description('Required. Resource id of the Log Analytics workspace for diagnostics.')
param workspaceId string

@description('Required. The app settings the ingestion code reads (company_activity.settings), by name.')
param ingestSettings object

@description('Required. Resource id of the user-assigned identity the dashboard reads Azure SQL with (rpt_reader only).')
param dashboardSqlIdentityId string

@description('Required. Resource id of the user-assigned identity App Service authentication signs in with.')
param signInIdentityId string

@description('Required. Client id of that sign-in identity (its federated credential replaces a client secret).')
param signInIdentityClientId string

@description('Required. Application (client) id of the Entra app registration users sign in to (docs/deploy.md).')
param authClientId string

@description('Required. Object ids of the Entra groups whose members may open the dashboard.')
param allowedGroupIds array

@description('Optional. Object ids of Entra users who may open the dashboard besides the groups\' members.')
param allowedUserIds array = []

@description('Optional. Upper bound of instances the plan may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. Memory of each instance in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Optional. Tags applied to every resource.')
param tags object = {}

// Identity-based connections for the Functions host (timer leases, queue trigger, function keys) and
// Entra-authenticated telemetry. No FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION: Flex
// Consumption takes the runtime from functionAppConfig and rejects those settings.
var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  // App Service authentication proves the app registration with this identity's federated credential.
  OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: signInIdentityClientId
}

// Routes App Service authentication lets through without its sign-in: the HTTP API, whose callers bring an Entra
// access token for the API's own app registration (another audience than the dashboard's) and which verifies
// it and its app roles in the app (functions/caller.py, docs/security.md). Everything else, the dashboard
// first, needs a signed-in user of the configured groups.
var apiPaths = [
  '/api/backfill'
  '/api/backfill/*'
  '/api/ingestions'
]

// siteConfig.appSettings takes name/value pairs; the settings are applied when the site is created.
var appSettings = [for setting in items(union(hostSettings, ingestSettings)): {
  name: setting.key
  value: setting.value
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption scales per event; zone redundancy is an extra-cost option not needed by a nightly batch.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17:Client certificates are not used; users sign in with Entra ID (authsettingsV2 below) and the backfill endpoints take function keys over HTTPS.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per event; a nightly batch needs no always-ready instances.
  // checkov:skip=CKV_AZURE_213:Health check pings keep instances warm and are not supported on Flex Consumption; failures surface in Application Insights.
  // checkov:skip=CKV_AZURE_222:The backfill and status HTTP endpoints are called from outside Azure; they require a function key.
  // checkov:skip=CKV_AZURE_16:The site is registered with Entra ID: a system-assigned identity plus two user-assigned ones ('SystemAssigned, UserAssigned'); the check accepts only 'SystemAssigned'.
  // checkov:skip=CKV_AZURE_78:Flex Consumption rejects siteConfig.ftpsState (ARM error for Flex sites); FTP deployment is not part of Flex, which deploys from the blob container.
  // checkov:skip=CKV_AZURE_15:Flex Consumption rejects most siteConfig properties; minTlsVersion is left at the platform default, TLS 1.2.
  // checkov:skip=CKV_AZURE_18:Flex Consumption rejects most siteConfig properties; http20Enabled stays at the platform default.
  // checkov:skip=CKV_AZURE_67:Flex Consumption rejects most siteConfig properties; the HTTP version stays at the platform default.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    // System-assigned: storage, Key Vault, Application Insights, Data Factory (role-assignments.bicep).
    // The two user-assigned ones have no Azure role: dashboard-identities.bicep says what each is for.
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${dashboardSqlIdentityId}': {}
      '${signInIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    clientCertEnabled: false
    // Flex Consumption refuses most siteConfig properties (ARM: "site configuration property ... for Flex
    // Consumption sites is invalid", FtpsState among them): only what the official Flex samples set goes here.
    // TLS 1.2 is the platform default for new apps; FTP and remote debugging are not offered on Flex.
    siteConfig: {
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// App Service built-in authentication (Easy Auth), also on Flex Consumption (docs/azure-fidelity.md): Microsoft
// Entra ID sign-in for every request outside apiPaths, and only the configured groups or users get
// through (defaultAuthorizationPolicy); GET /api/dashboard checks the same lists again in code.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads every Microsoft.Web/sites/config as site configuration; these checks do not apply to authsettingsV2:
  // checkov:skip=CKV_AZURE_13:This is authentication itself: authsettingsV2 with platform.enabled and requireAuthentication (the check reads the V1 shape); tests/infra/test_dashboard_auth.py pins it.
  // checkov:skip=CKV_AZURE_63:HTTP logging is site configuration, not authentication settings; requests go to Application Insights and the diagnostic setting.
  // checkov:skip=CKV_AZURE_65:Detailed error messages are site configuration, not authentication settings (Flex Consumption rejects most siteConfig properties).
  // checkov:skip=CKV_AZURE_66:Failed request tracing is site configuration, not authentication settings (Flex Consumption rejects most siteConfig properties).
  // checkov:skip=CKV_AZURE_80:No .NET: the app is Python; and this resource holds authentication settings only.
  // checkov:skip=CKV_AZURE_88:Azure Files does not apply: Flex Consumption deploys from a blob container; this resource holds authentication settings only.
  // checkov:skip=CKV_AZURE_222:Network access is the site's property (see the site's skip); this resource holds authentication settings, which require a signed-in user.
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: apiPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          clientId: authClientId
          clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
          ]
          defaultAuthorizationPolicy: {
            allowedPrincipals: {
              groups: allowedGroupIds
              identities: allowedUserIds
            }
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false // the dashboard needs the sign-in only, not the user's tokens
      }
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

@description('Name of the Function App.')
output name string = site.name

@description('Default host name of the Function App, e.g. <name>.azurewebsites.net.')
output defaultHostName string = site.properties.defaultHostName

@description('Where signed-in users open the dashboard.')
output dashboardUrl string = 'https://${site.properties.defaultHostName}/api/dashboard'

@description('Object id of the Function App\'s system-assigned identity.')
output principalId string = site.identity.principalId
