// The one Data Factory permission of the Function App: start PL_backfill_company_activity and read its runs
// (POST /api/backfill, GET /api/backfill/{run id}), scoped to the factory.
//
// No built-in role is this narrow: "Data Factory Contributor" can create, change and delete the factory and
// all its pipelines, linked services and triggers. So a custom role holds exactly the three operations the
// code calls (resource provider operations of Microsoft.DataFactory): pipelines/createrun/action,
// pipelineruns/read, pipelineruns/queryactivityruns/action, and querypipelineruns/action with its result
// read querypipelineruns/read (is a backfill already running?). ARM cannot narrow createrun to one pipeline
// or its parameters: no documented role scope below the factory for pipelines, and ABAC conditions do not
// cover Data Factory actions (docs/security.md); both pipelines' concurrency 1 and their own checks bound it. Its assignable scope is this resource
// group; it is assigned on the factory only. Creating a role definition needs
// Microsoft.Authorization/roleDefinitions/write (Owner or User Access Administrator), the same deployer
// rights the other role assignments already need.

@description('Required. Name of the data factory the Function App starts backfill runs in.')
param factoryName string

@description('Required. Object id of the Function App\'s system-assigned identity.')
param functionPrincipalId string

resource factory 'Microsoft.DataFactory/factories@2018-06-01' existing = {
  name: factoryName
}

var roleName = 'Company activity backfill starter (${resourceGroup().name})'

resource backfillStarter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'company-activity-backfill-starter')
  properties: {
    roleName: roleName
    description: 'Start Data Factory pipeline runs, read and query pipeline and activity runs; nothing else.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.DataFactory/factories/pipelines/createrun/action'
          'Microsoft.DataFactory/factories/pipelineruns/read'
          'Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action'
          'Microsoft.DataFactory/factories/querypipelineruns/action'
          'Microsoft.DataFactory/factories/querypipelineruns/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
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
