// The one Data Factory permission of the Function App: start PL_backfill_company_activity, read its runs and
// query whether one is running (POST /api/backfill, GET /api/backfill/{run id}), scoped to the factory.
//
// The custom role holding exactly those operations is defined once per resource group by an administrator
// (infra/admin/backfill-starter-role.bicep, `infra/deploy.sh --create-role <env>`); this module only references it
// by its name, the same guid, and assigns it. So deploying needs Microsoft.Authorization/roleAssignments/write but
// never roleDefinitions/write, which would let the deployer rewrite a role it may assign into anything
// (docs/deploy.md, "Who may deploy").

@description('Required. Name of the data factory the Function App starts backfill runs in.')
param factoryName string

@description('Required. Object id of the Function App\'s system-assigned identity.')
param functionPrincipalId string

resource factory 'Microsoft.DataFactory/factories@2018-06-01' existing = {
  name: factoryName
}

resource backfillStarter 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  name: guid(resourceGroup().id, 'company-activity-backfill-starter')
}

resource functionStartsBackfill 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(factory.id, functionPrincipalId, backfillStarter.id)
  scope: factory
  properties: {
    roleDefinitionId: backfillStarter.id
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Resource id of the custom role definition.')
output roleDefinitionId string = backfillStarter.id
